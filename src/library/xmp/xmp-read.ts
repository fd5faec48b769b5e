// Reads the three XMP properties the library owns (dc:description, dc:subject,
// lr:hierarchicalSubject), and our provenance namespace beside them, from any packet shape real
// tools write: x:xmpmeta or bare rdf:RDF, xpacket wrappers, one or many rdf:Description blocks,
// attribute or element form. Properties are matched by namespace URI, never by prefix, because
// writers are free to pick their own prefixes.
import { AppError } from '../../shared/errors.ts';
import {
  XML_NS, attr, elementChildren, parseDocument, textOf, walk, type XmlElement,
} from './xml-scan.ts';
import { NS, isRdf } from './xmp-ns.ts';
import { readProvenance, type XmpProvenance } from './xmp-provenance.ts';

export { NS, isRdf };

export interface XmpFields {
  /** dc:description, the x-default entry (or the first language when there is no x-default). */
  description?: string;
  /** dc:subject, the flat keywords. */
  subjects: string[];
  /** lr:hierarchicalSubject, keyword paths such as `Places|France|Paris`. */
  hierarchicalSubjects: string[];
  /** What our own namespace says is the model's, when the packet carries it (xmp-provenance.ts). */
  provenance?: XmpProvenance;
}

/** A property the library owns, identified by namespace URI and local name. */
export interface OwnedProperty {
  uri: string;
  local: string;
}
export const DESCRIPTION: OwnedProperty = { uri: NS.dc, local: 'description' };
export const SUBJECT: OwnedProperty = { uri: NS.dc, local: 'subject' };
export const HIERARCHICAL: OwnedProperty = { uri: NS.lr, local: 'hierarchicalSubject' };

/**
 * Parse an XMP packet. Throws AppError('invalid_argument') naming `file` when the text is not
 * well-formed; well-formed XML without RDF simply yields no values.
 */
export function readXmp(xml: string, file?: string): XmpFields {
  return fieldsOf(parseXmp(xml, file));
}

/** Scan an XMP packet, turning syntax errors into an AppError that names the file. */
export function parseXmp(xml: string, file?: string): XmlElement {
  const doc = parseDocument(xml);
  if (!doc.ok) throw new AppError('invalid_argument', `XMP is not well-formed XML (${doc.why})`, { file });
  return doc.root;
}

/** Every top-level rdf:Description (children of any rdf:RDF), in document order. */
export function descriptionsOf(root: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  for (const el of walk(root)) {
    if (isRdf(el, 'RDF')) out.push(...elementChildren(el).filter((c) => isRdf(c, 'Description')));
  }
  return out;
}

/** Where a property occurs on one rdf:Description: as child elements and/or as attributes. */
export function occurrences(desc: XmlElement, prop: OwnedProperty) {
  return {
    elements: elementChildren(desc).filter((c) => c.uri === prop.uri && c.local === prop.local),
    attr: attr(desc, prop.uri, prop.local),
  };
}

export function fieldsOf(root: XmlElement): XmpFields {
  const descs = descriptionsOf(root);
  let description: string | undefined;
  const subjects: string[] = [];
  const hierarchical: string[] = [];
  for (const d of descs) {
    const desc = occurrences(d, DESCRIPTION);
    for (const el of desc.elements) description ??= langAltValue(el);
    if (desc.attr?.value.trim()) description ??= desc.attr.value;
    collect(d, SUBJECT, subjects);
    collect(d, HIERARCHICAL, hierarchical);
  }
  const provenance = readProvenance(descs, description, subjects);
  return {
    ...(description !== undefined ? { description } : {}), subjects, hierarchicalSubjects: hierarchical,
    ...(provenance ? { provenance } : {}),
  };
}

/** Items of a Bag/Seq/Alt property (or a bare text value from non-conforming writers), deduplicated. */
function collect(desc: XmlElement, prop: OwnedProperty, into: string[]): void {
  const { elements, attr: a } = occurrences(desc, prop);
  const values = elements.flatMap((el) => {
    const container = elementChildren(el).find((c) => isRdf(c, 'Bag') || isRdf(c, 'Seq') || isRdf(c, 'Alt'));
    return container ? elementChildren(container).filter((li) => isRdf(li, 'li')).map(textOf) : [textOf(el)];
  });
  if (a) values.push(a.value);
  for (const v of values.map((s) => s.trim())) if (v && !into.includes(v)) into.push(v);
}

/** The x-default entry of an rdf:Alt (first entry as fallback), or plain text content. */
function langAltValue(el: XmlElement): string | undefined {
  const alt = elementChildren(el).find((c) => isRdf(c, 'Alt') || isRdf(c, 'Bag') || isRdf(c, 'Seq'));
  if (!alt) {
    const text = textOf(el);
    return text.trim() ? text : undefined;
  }
  const items = elementChildren(alt).filter((li) => isRdf(li, 'li'));
  const chosen = items.find(isXDefault) ?? items[0];
  return chosen && textOf(chosen).trim() ? textOf(chosen) : undefined;
}

export function isXDefault(li: XmlElement): boolean {
  return attr(li, XML_NS, 'lang')?.value.toLowerCase() === 'x-default';
}
