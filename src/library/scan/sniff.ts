// The content sniffer lives with the decoders (src/runtime/image/decode/image-type.ts); the library
// reads it from here.
export * from '../../runtime/image/decode/image-type.ts';
