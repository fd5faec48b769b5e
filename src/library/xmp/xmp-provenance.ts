// Photo Assistant's own XMP namespace. dc:description and dc:subject cannot say who wrote them, so
// without it a catalog created fresh over our sidecars (catalog deleted, a new machine, a second
// catalog) would take our AI captions and suggestions for the user's own words. The namespace is
// ours alone: each write replaces it as a whole (xmp-merge.ts); other tools (digiKam, Lightroom,
// darktable, Immich) ignore namespaces they do not know. Should one drop it, everything simply
// reads as the user's again, the safe side.
//
//   xmlns:photoassistant="https://photo-assistant.app/ns/1.0/"   (stable; readers match the URI, the
//                                                                  prefix is only what we prefer)
//   photoassistant:descriptionSource  'ai' | 'user': who wrote dc:description's x-default entry
//   photoassistant:descriptionModel   the captioning model's id (with 'ai' only)
//   photoassistant:descriptionSha1    hex SHA-1 of the trimmed AI caption (with 'ai' only): a caption
//                                     since edited in another tool no longer matches and is the user's
//   photoassistant:aiSubjects         rdf:Bag of the dc:subject keywords that are the model's
//                                     suggestions, not accepted by the user; every other keyword is
//                                     the user's (accepted, typed, or added by another tool)
import { createHash } from 'node:crypto';
import { cleanXmlText, elementChildren, textOf, type XmlElement } from './xml-scan.ts';
import { NS, isRdf } from './xmp-ns.ts';

export const PA_PREFIX = 'photoassistant';

export interface XmpProvenance {
  /** dc:subject keywords that are AI suggestions (spelt as in dc:subject; only those it still holds). */
  aiSubjects: string[];
  /** Who wrote dc:description. On read, 'ai' only while the text is still exactly what we wrote. */
  descriptionSource?: 'ai' | 'user';
  /** The captioning model, with descriptionSource 'ai'. */
  descriptionModel?: string;
}

/** One of our properties as a write lays it out; values unescaped. */
export interface PaProperty {
  local: string;
  kind: 'text' | 'Bag';
  items: string[];
}

export function descriptionSha1(text: string): string {
  return createHash('sha1').update(text.trim(), 'utf8').digest('hex');
}

/**
 * Our properties on these rdf:Descriptions, checked against what the packet holds now: undefined
 * when the namespace is absent (then everything is the user's, as for any other tool's sidecar).
 */
export function readProvenance(descs: readonly XmlElement[], description: string | undefined, subjects: readonly string[]): XmpProvenance | undefined {
  const raw = new Map<string, string[]>();
  const add = (local: string, values: string[]) => raw.set(local, [...(raw.get(local) ?? []), ...values]);
  for (const d of descs) {
    for (const el of elementChildren(d)) {
      if (el.uri !== NS.pa) continue;
      const container = elementChildren(el).find((c) => isRdf(c, 'Bag') || isRdf(c, 'Seq') || isRdf(c, 'Alt'));
      add(el.local, container ? elementChildren(container).filter((li) => isRdf(li, 'li')).map(textOf) : [textOf(el)]);
    }
    for (const a of d.attrs) if (a.uri === NS.pa) add(a.local, [a.value]);
  }
  if (raw.size === 0) return undefined;
  const one = (local: string) => raw.get(local)?.map((v) => v.trim()).find((v) => v !== '');
  const out: XmpProvenance = { aiSubjects: present(raw.get('aiSubjects') ?? [], subjects) };
  const recorded = one('descriptionSource');
  if (description?.trim() && (recorded === 'ai' || recorded === 'user')) {
    const ours = recorded === 'ai' && one('descriptionSha1')?.toLowerCase() === descriptionSha1(description);
    out.descriptionSource = ours ? 'ai' : 'user';
    const model = one('descriptionModel');
    if (ours && model) out.descriptionModel = model;
  }
  return out;
}

/** What a reader will find after we write `prov` beside this description and these keywords. */
export function settleProvenance(prov: XmpProvenance, description: string | undefined, subjects: readonly string[]): XmpProvenance {
  const out: XmpProvenance = { aiSubjects: present(prov.aiSubjects, subjects) };
  if (description?.trim() && prov.descriptionSource) {
    out.descriptionSource = prov.descriptionSource;
    const model = cleanXmlText(prov.descriptionModel ?? '').trim();
    if (prov.descriptionSource === 'ai' && model) out.descriptionModel = model;
  }
  return out;
}

/** The properties that record a settled provenance, in the order we lay them out. */
export function provenanceProperties(settled: XmpProvenance, description: string | undefined): PaProperty[] {
  const out: PaProperty[] = [];
  if (settled.descriptionSource && description !== undefined) {
    out.push({ local: 'descriptionSource', kind: 'text', items: [settled.descriptionSource] });
    if (settled.descriptionSource === 'ai') {
      if (settled.descriptionModel) out.push({ local: 'descriptionModel', kind: 'text', items: [settled.descriptionModel] });
      out.push({ local: 'descriptionSha1', kind: 'text', items: [descriptionSha1(description)] });
    }
  }
  if (settled.aiSubjects.length) out.push({ local: 'aiSubjects', kind: 'Bag', items: settled.aiSubjects });
  return out;
}

/** The entries of `list` that `subjects` holds (case-insensitively, like catalog tags), spelt as there. */
function present(list: readonly string[], subjects: readonly string[]): string[] {
  const spelling = new Map<string, string>();
  for (const s of subjects) if (!spelling.has(s.toLowerCase())) spelling.set(s.toLowerCase(), s);
  const out: string[] = [];
  for (const v of list) {
    const s = spelling.get(cleanXmlText(v).trim().toLowerCase());
    if (s !== undefined && !out.includes(s)) out.push(s);
  }
  return out;
}
