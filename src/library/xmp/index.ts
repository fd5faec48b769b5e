// Public face of the XMP module: sidecar naming and lookup, reading and merging our three
// properties (caption, keywords, keyword paths) and our provenance namespace (which of them are the
// model's), and the packet embedded in an image.
export { NS, readXmp, type XmpFields } from './xmp-read.ts';
export { mergeXmp, type XmpUpdate } from './xmp-merge.ts';
export { PA_PREFIX, descriptionSha1, type XmpProvenance } from './xmp-provenance.ts';
export { findSidecar, readSidecar, sidecarPath, writeSidecar, type SidecarNaming } from './sidecar.ts';
export { embeddedXmpPacket, readEmbeddedXmp } from './embedded-xmp.ts';
export { isWellFormedXml } from './xml-scan.ts';
