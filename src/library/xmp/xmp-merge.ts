// Merges the library's three properties into an existing XMP packet by editing the original text
// at scanned offsets: only dc:description's x-default entry, dc:subject's items and
// lr:hierarchicalSubject's items change; every other byte (other properties, other languages,
// darktable history, crs: settings, comments, formatting) is left as the other tool wrote it.
import { AppError } from '../../shared/errors.ts';
import { cleanXmlText, elementChildren, escapeXml, walk, type XmlElement } from './xml-scan.ts';
import {
  DESCRIPTION, HIERARCHICAL, NS, SUBJECT, descriptionsOf, fieldsOf, isRdf, isXDefault, occurrences, parseXmp,
  type OwnedProperty,
} from './xmp-read.ts';

export interface XmpUpdate {
  /** A string sets the x-default caption; null or '' removes it (other languages stay). */
  description?: string | null;
  /** Replaces dc:subject; [] removes it. */
  subjects?: string[];
  /** Replaces lr:hierarchicalSubject; [] removes it. */
  hierarchicalSubjects?: string[];
}

/** The packet we create when a photo has no sidecar yet: the layout Adobe's XMP toolkit writes. */
export const NEW_PACKET =
  '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' +
  '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photo-assistant">\n' +
  ` <rdf:RDF xmlns:rdf="${NS.rdf}">\n` +
  `  <rdf:Description rdf:about=""\n    xmlns:dc="${NS.dc}"\n    xmlns:lr="${NS.lr}">\n` +
  '  </rdf:Description>\n' +
  ' </rdf:RDF>\n' +
  '</x:xmpmeta>\n' +
  '<?xpacket end="w"?>\n';

interface Edit {
  start: number;
  end: number;
  text: string;
}

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
  const out = applyEdits(xml, planEdits(xml, root, update));
  verify(out, update, file);
  return out;
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

function planEdits(xml: string, root: XmlElement, update: XmpUpdate): Edit[] {
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
  /** A fresh property element: in place of `replacing`, or appended to the right description. */
  const place = (prop: OwnedProperty, replacing: XmlElement | undefined, home: XmlElement | undefined, kind: 'Alt' | 'Bag', items: string[]) => {
    const d = replacing?.parent ?? home ?? descs.find((x) => [...x.ns.values()].includes(prop.uri)) ?? descs[0];
    const [pos, depth] = replacing ? [replacing.start, 0] : childAnchor(d);
    const name = qn(prefixFor(d, prop.uri, prop.uri === NS.dc ? 'dc' : 'lr'), prop.local);
    const rdf = prefixFor(d, NS.rdf, 'rdf');
    const lang = kind === 'Alt' ? ' xml:lang="x-default"' : '';
    const lis = items.map((v) => `${br(pos, depth + 2)}<${qn(rdf, 'li')}${lang}>${v}</${qn(rdf, 'li')}>`).join('');
    const text = `<${name}>${br(pos, depth + 1)}<${qn(rdf, kind)}>${lis}${br(pos, depth + 1)}</${qn(rdf, kind)}>${br(pos, depth)}</${name}>`;
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

function qn(prefix: string, local: string): string {
  return prefix ? `${prefix}:${local}` : local;
}

/**
 * Line break plus indentation for new markup laid out like the element at `pos`, `depth` steps
 * deeper; nothing at all when that element shares its line with others (a compact packet stays compact).
 */
function breaker(xml: string, unit: string): (pos: number, depth?: number) => string {
  return (pos, depth = 0) => {
    const indent = indentAt(xml, pos);
    return indent === undefined ? '' : `\n${indent}${unit.repeat(depth)}`;
  };
}

/** Replace an element's content, turning `<a/>` into `<a>…</a>` when needed. */
function setContent(el: XmlElement, text: string): Edit {
  if (el.selfClosing) return { start: el.startTagEnd - 2, end: el.end, text: `>${text}</${el.name}>` };
  return { start: el.startTagEnd, end: el.endTagStart, text };
}

/** Insert `text` as the first content of `el`; `closeBreak` precedes the end tag a `<a/>` gains. */
function insertFirst(el: XmlElement, text: string, closeBreak: string): Edit {
  if (el.selfClosing) return { start: el.startTagEnd - 2, end: el.end, text: `>${text}${closeBreak}</${el.name}>` };
  return { start: el.startTagEnd, end: el.startTagEnd, text };
}

/** Leading whitespace of the line `pos` is on, or undefined when something else precedes `pos` on it. */
function indentAt(xml: string, pos: number): string | undefined {
  let s = pos;
  while (s > 0 && (xml[s - 1] === ' ' || xml[s - 1] === '\t')) s--;
  return s === 0 || xml[s - 1] === '\n' ? xml.slice(s, pos) : undefined;
}

/** Where to cut from so that removing an element also removes its now-empty line. */
function lineStart(xml: string, pos: number): number {
  let s = pos;
  while (s > 0 && (xml[s - 1] === ' ' || xml[s - 1] === '\t')) s--;
  if (xml[s - 1] === '\n') s--;
  if (xml[s - 1] === '\r') s--;
  return s;
}

/** One indentation step as the writer used it (child indent minus parent indent), default one space. */
function indentUnit(xml: string, d: XmlElement | undefined): string {
  const first = d && elementChildren(d)[0];
  const outer = d && indentAt(xml, d.start);
  const inner = first && indentAt(xml, first.start);
  if (outer === undefined || inner === undefined) return ' ';
  return inner.startsWith(outer) && inner.length > outer.length ? inner.slice(outer.length) : ' ';
}

export function applyEdits(xml: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = xml;
  let limit = Infinity;
  for (const e of sorted) {
    if (e.end > limit) throw new AppError('io_error', 'internal error: overlapping XMP edits');
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    limit = e.start;
  }
  return out;
}

/** Re-read what we produced: a bug here must never reach the disk. */
function verify(out: string, update: XmpUpdate, file?: string): void {
  const got = fieldsOf(parseXmp(out, file));
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const bad =
    (cleanXmlText(update.description ?? '').trim() && got.description !== cleanXmlText(update.description ?? '')) ||
    (update.subjects && !same(got.subjects, normalizeList(update.subjects))) ||
    (update.hierarchicalSubjects && !same(got.hierarchicalSubjects, normalizeList(update.hierarchicalSubjects)));
  if (bad) throw new AppError('io_error', 'internal error: the merged XMP did not read back as written', { file });
}
