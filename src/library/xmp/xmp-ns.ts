// The namespace URIs the XMP module matches on, in a module of its own so the readers of the
// standard properties (xmp-read.ts) and of our provenance namespace (xmp-provenance.ts) can share
// them without importing each other. Matching is always by URI, never by prefix.
import type { XmlElement } from './xml-scan.ts';

export const NS = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  lr: 'http://ns.adobe.com/lightroom/1.0/',
  x: 'adobe:ns:meta/',
  /** Photo Assistant's own properties (provenance of what we wrote); see xmp-provenance.ts. */
  pa: 'https://photo-assistant.app/ns/1.0/',
} as const;

export function isRdf(el: XmlElement, local: string): boolean {
  return el.uri === NS.rdf && el.local === local;
}
