// Merges the library's three properties into an existing XMP packet by editing the original text
// at scanned offsets: only dc:description's x-default entry, dc:subject's items and
// lr:hierarchicalSubject's items change, plus our own provenance namespace, which is replaced as a
// whole; every other byte (other properties, other languages, darktable history, crs: settings,
// comments, formatting) is left as the other tool wrote it.
import { AppError } from '../../shared/errors.ts';
import { cleanXmlText, elementChildren, escapeXml, walk, type XmlElement } from './xml-scan.ts';
import {
  applyEdits, breaker, indentUnit, insertFirst, lineStart, qn, setContent, type Edit,
} from './xmp-edit.ts';
import { PA_PREFIX, provenanceProperties, settleProvenance, type XmpProvenance } from './xmp-provenance.ts';
import {
  DESCRIPTION, HIERARCHICAL, NS, SUBJECT, descriptionsOf, fieldsOf, isRdf, isXDefault, occurrences, parseXmp,
  type OwnedProperty, type XmpFields,
} from './xmp-read.ts';

export interface XmpUpdate {
  /** A string sets the x-default caption; null or '' removes it (other languages stay). */
  description?: string | null;
  /** Replaces dc:subject; [] removes it. */
  subjects?: string[];
  /** Replaces lr:hierarchicalSubject; [] removes it. */
  hierarchicalSubjects?: string[];
  /**
   * Replaces our provenance namespace (xmp-provenance.ts); null removes it, undefined leaves it.
   * Keywords it lists that dc:subject will not hold are dropped. With `description` undefined and no
   * descriptionSource here, what the namespace said about the untouched caption is kept.
   */
  provenance?: XmpProvenance | null;
}

/** The packet we create when a photo has no sidecar yet: the layout Adobe's XMP toolkit writes. */
export const NEW_PACKET =
  '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' +
  '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photo-assistant">\n' +
  ` <rdf:RDF xmlns:rdf="${NS.rdf}">\n` +
  `  <rdf:Description rdf:about=""\n    xmlns:dc="${NS.dc}"\n    xmlns:lr="${NS.lr}"\n    xmlns:${PA_PREFIX}="${NS.pa}">\n` +
  '  </rdf:Description>\n' +
  ' </rdf:RDF>\n' +
  '</x:xmpmeta>\n' +
  '<?xpacket end="w"?>\n';

/** Trimmed, cleaned, non-empty, first occurrence wins. */
export function normalizeList(items: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of items) {
    const v = cleanXmlText(raw).trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

/** Apply `update` to the packet `xml`; throws AppError naming `file` rather than produce a bad packet. */
export function mergeXmp(xml: string, update: XmpUpdate, file?: string): string {
  let root = parseXmp(xml, file);
  if (descriptionsOf(root).length === 0) {
    xml = withEmptyDescription(xml, root, file);
    root = parseXmp(xml, file);
  }
  const prov = update.provenance === undefined ? undefined : update.provenance && settleFor(fieldsOf(root), update.provenance, update);
  const out = applyEdits(xml, planEdits(xml, root, update, prov));
  verify(out, update, prov, file);
  return out;
}

/** Our provenance as written: settled against the caption and keywords the packet will hold. */
interface SettledProvenance {
  settled: XmpProvenance;
  description: string | undefined;
}

function settleFor(before: XmpFields, provenance: XmpProvenance, update: XmpUpdate): SettledProvenance {
  const clean = cleanXmlText(update.description ?? '');
  const description = update.description === undefined ? before.description : clean.trim() ? clean : undefined;
  const subjects = update.subjects === undefined ? before.subjects : normalizeList(update.subjects);
  let p = provenance;
  if (update.description === undefined && !p.descriptionSource && before.provenance?.descriptionSource) {
    const { descriptionSource, descriptionModel } = before.provenance;
    p = { ...p, descriptionSource, ...(descriptionModel ? { descriptionModel } : {}) };
  }
  return { settled: settleProvenance(p, description, subjects), description };
}

function withEmptyDescription(xml: string, root: XmlElement, file?: string): string {
  const rdf = [...walk(root)].find((el) => isRdf(el, 'RDF'));
  if (!rdf) throw new AppError('invalid_argument', 'has no rdf:RDF, so it is not an XMP packet', { file });
  const p = rdf.prefix || 'rdf';
  const decl = rdf.prefix ? '' : ` xmlns:rdf="${NS.rdf}"`;
  const br = breaker(xml, ' ');
  const desc = `${br(rdf.start, 1)}<${p}:Description ${p}:about=""${decl}>${br(rdf.start, 1)}</${p}:Description>`;
  return applyEdits(xml, [insertFirst(rdf, desc, br(rdf.start))]);
}

/** Per rdf:Description: namespace declarations and property elements still to add. */
interface Pending {
  decls: Map<string, string>;
  children: string[];
}

const PREFERRED_PREFIX: Readonly<Record<string, string>> = { [NS.dc]: 'dc', [NS.lr]: 'lr', [NS.pa]: PA_PREFIX };

function planEdits(xml: string, root: XmlElement, update: XmpUpdate, prov: SettledProvenance | null | undefined): Edit[] {
  const descs = descriptionsOf(root);
  const edits: Edit[] = [];
  const br = breaker(xml, indentUnit(xml, descs[0]));
  const pending = new Map<XmlElement, Pending>();
  const pendingOf = (d: XmlElement): Pending => {
    if (!pending.has(d)) pending.set(d, { decls: new Map(), children: [] });
    return pending.get(d)!;
  };
  const prefixFor = (d: XmlElement, uri: string, preferred: string): string => {
    const decls = pendingOf(d).decls;
    for (const [p, u] of [...decls, ...d.ns]) if (u === uri) return p;
    let p = preferred;
    for (let n = 1; d.ns.has(p) || decls.has(p); n++) p = `${preferred}${n}`;
    decls.set(p, uri);
    return p;
  };
  /** Where a new child of `el` is laid out: like its first child, else one step deeper than `el`. */
  const childAnchor = (el: XmlElement, first = elementChildren(el)[0]): [number, number] => (first ? [first.start, 0] : [el.start, 1]);
  const remove = (el: XmlElement): void => void edits.push({ start: lineStart(xml, el.start), end: el.end, text: '' });
  /** A property element of `d` laid out like the element at `pos`, `depth` steps deeper; items escaped. */
  const markup = (d: XmlElement, prop: OwnedProperty, pos: number, depth: number, kind: 'Alt' | 'Bag' | 'text', items: string[]) => {
    const name = qn(prefixFor(d, prop.uri, PREFERRED_PREFIX[prop.uri] ?? 'ns'), prop.local);
    if (kind === 'text') return `<${name}>${items.join('')}</${name}>`;
    const rdf = prefixFor(d, NS.rdf, 'rdf');
    const lang = kind === 'Alt' ? ' xml:lang="x-default"' : '';
    const lis = items.map((v) => `${br(pos, depth + 2)}<${qn(rdf, 'li')}${lang}>${v}</${qn(rdf, 'li')}>`).join('');
    return `<${name}>${br(pos, depth + 1)}<${qn(rdf, kind)}>${lis}${br(pos, depth + 1)}</${qn(rdf, kind)}>${br(pos, depth)}</${name}>`;
  };
  /** A fresh property element: in place of `replacing`, or appended to the right description. */
  const place = (prop: OwnedProperty, replacing: XmlElement | undefined, home: XmlElement | undefined, kind: 'Alt' | 'Bag', items: string[]) => {
    const d = replacing?.parent ?? home ?? descs.find((x) => [...x.ns.values()].includes(prop.uri)) ?? descs[0];
    const [pos, depth] = replacing ? [replacing.start, 0] : childAnchor(d);
    const text = markup(d, prop, pos, depth, kind, items);
    if (replacing) edits.push({ start: replacing.start, end: replacing.end, text });
    else pendingOf(d).children.push(`${br(pos, depth)}${text}`);
  };
  const all = (prop: OwnedProperty) => {
    const found = descs.map((d) => ({ d, ...occurrences(d, prop) }));
    return { elements: found.flatMap((f) => f.elements), attrs: found.flatMap((f) => (f.attr ? [{ d: f.d, a: f.attr }] : [])) };
  };
  const dropAttrs = (attrs: { a: { start: number; end: number } }[]) => {
    for (const { a } of attrs) {
      let s = a.start;
      while (/\s/.test(xml[s - 1])) s--;
      edits.push({ start: s, end: a.end, text: '' });
    }
  };

  if (update.description !== undefined) {
    const clean = cleanXmlText(update.description ?? '');
    const value = clean.trim() ? escapeXml(clean) : undefined;
    const { elements, attrs } = all(DESCRIPTION);
    dropAttrs(attrs);
    const altOwner = elements.find((el) => elementChildren(el).some((c) => isRdf(c, 'Alt')));
    // A plain-text dc:description (non-conforming writers) is rewritten in place as a proper rdf:Alt.
    const keep = altOwner ?? (value !== undefined ? elements[0] : undefined);
    for (const el of elements) if (el !== keep) remove(el);
    if (altOwner) {
      const alt = elementChildren(altOwner).find((c) => isRdf(c, 'Alt'))!;
      const items = elementChildren(alt).filter((li) => isRdf(li, 'li'));
      const xd = items.filter(isXDefault);
      if (value === undefined && xd.length === items.length) remove(altOwner);
      else if (value === undefined) xd.forEach(remove);
      else {
        xd.slice(1).forEach(remove);
        if (xd[0]) edits.push(setContent(xd[0], value));
        else {
          // x-default goes first: XMP readers that ignore xml:lang take the first entry.
          const li = qn(alt.prefix, 'li');
          edits.push(insertFirst(alt, `${br(...childAnchor(alt, items[0]))}<${li} xml:lang="x-default">${value}</${li}>`, br(alt.start)));
        }
      }
    } else if (value !== undefined) {
      place(DESCRIPTION, keep, attrs[0]?.d, 'Alt', [value]);
    }
  }

  for (const [prop, list] of [[SUBJECT, update.subjects], [HIERARCHICAL, update.hierarchicalSubjects]] as const) {
    if (list === undefined) continue;
    const items = normalizeList(list).map(escapeXml);
    const { elements, attrs } = all(prop);
    dropAttrs(attrs);
    const keep = items.length ? elements[0] : undefined;
    for (const el of elements) if (el !== keep) remove(el);
    // The writer's own container (Bag, or Seq as some tools write) and the property element stay.
    const container = keep && elementChildren(keep).find((c) => isRdf(c, 'Bag') || isRdf(c, 'Seq'));
    if (keep && container) {
      const li = qn(container.prefix, 'li');
      const body = items.map((v) => `${br(container.start, 1)}<${li}>${v}</${li}>`).join('');
      edits.push(setContent(container, body + br(container.start)));
    } else if (items.length) {
      place(prop, keep, attrs[0]?.d, 'Bag', items);
    }
  }

  if (prov !== undefined) {
    // Our namespace is ours alone: every property of it is replaced, in place when it is there
    // already (so an unchanged write leaves the bytes alone). A declaration of it is left standing.
    const ours = descs.flatMap((d) => elementChildren(d).filter((c) => c.uri === NS.pa));
    dropAttrs(descs.flatMap((d) => d.attrs.filter((a) => a.uri === NS.pa).map((a) => ({ a }))));
    const props = prov ? provenanceProperties(prov.settled, prov.description) : [];
    const anchor = props.length ? ours[0] : undefined;
    for (const el of ours) if (el !== anchor) remove(el);
    if (props.length) {
      const d = anchor?.parent ?? descs.find((x) => [...x.ns.values()].includes(NS.pa)) ?? descs[0];
      const [pos, depth] = anchor ? [anchor.start, 0] : childAnchor(d);
      const texts = props.map((p) => markup(d, { uri: NS.pa, local: p.local }, pos, depth, p.kind, p.items.map(escapeXml)));
      if (anchor) edits.push({ start: anchor.start, end: anchor.end, text: texts.join(br(pos, depth)) });
      else pendingOf(d).children.push(...texts.map((t) => `${br(pos, depth)}${t}`));
    }
  }

  for (const [d, { decls, children }] of pending) {
    const nsText = [...decls].map(([p, u]) => ` xmlns${p ? `:${p}` : ''}="${escapeXml(u)}"`).join('');
    if (d.selfClosing) {
      edits.push({ start: d.startTagEnd - 2, end: d.end, text: `${nsText}>${children.join('')}${br(d.start)}</${d.name}>` });
      continue;
    }
    if (nsText) edits.push({ start: d.startTagEnd - 1, end: d.startTagEnd - 1, text: nsText });
    const last = [...d.children].reverse().find((c) => c.kind === 'element');
    const at = last ? last.end : d.startTagEnd;
    const tail = !last && !xml.slice(d.startTagEnd, d.endTagStart).includes('\n') ? br(d.start) : '';
    if (children.length) edits.push({ start: at, end: at, text: children.join('') + tail });
  }
  // Match a CRLF file's line endings. Values are safe too: a CR of their own is already &#xD;,
  // and readers turn the CRLF we write back into the LF the caller gave.
  if (xml.includes('\r\n')) for (const e of edits) e.text = e.text.replace(/\n/g, '\r\n');
  return edits;
}

/** Re-read what we produced: a bug here must never reach the disk. */
function verify(out: string, update: XmpUpdate, prov: SettledProvenance | null | undefined, file?: string): void {
  const got = fieldsOf(parseXmp(out, file));
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const none: XmpProvenance = { aiSubjects: [] };
  const [gp, wp] = [got.provenance ?? none, prov?.settled ?? none];
  const bad =
    (cleanXmlText(update.description ?? '').trim() && got.description !== cleanXmlText(update.description ?? '')) ||
    (update.subjects && !same(got.subjects, normalizeList(update.subjects))) ||
    (update.hierarchicalSubjects && !same(got.hierarchicalSubjects, normalizeList(update.hierarchicalSubjects))) ||
    (prov !== undefined && (!same(gp.aiSubjects, wp.aiSubjects) || gp.descriptionSource !== wp.descriptionSource || gp.descriptionModel !== wp.descriptionModel));
  if (bad) throw new AppError('io_error', 'internal error: the merged XMP did not read back as written', { file });
}
