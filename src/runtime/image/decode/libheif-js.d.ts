// The slice of libheif-js's low-level binding (libheif in wasm, LGPL-3.0) that heif.ts uses; the
// package ships no typings for its `wasm-bundle` entry.
declare module 'libheif-js/wasm-bundle' {
  export interface HeifError { code: number; message?: string }
  export interface HeifPlane { id: number; width: number; height: number; stride: number; data: Uint8Array }
  export interface HeifDecoded { image: unknown; channels: HeifPlane[]; code?: undefined }
  interface LibHeif {
    heif_context_alloc(): unknown;
    heif_context_free(ctx: unknown): void;
    heif_context_read_from_memory(ctx: unknown, bytes: Uint8Array): HeifError;
    heif_js_context_get_list_of_top_level_image_IDs(ctx: unknown): number[] | HeifError;
    heif_js_context_get_image_handle(ctx: unknown, id: number): unknown;
    heif_image_handle_is_primary_image(handle: unknown): number | boolean;
    heif_image_handle_get_width(handle: unknown): number;
    heif_image_handle_get_height(handle: unknown): number;
    heif_image_handle_release(handle: unknown): void;
    heif_js_decode_image2(handle: unknown, colorspace: number, chroma: number): HeifDecoded | HeifError | Promise<HeifDecoded | HeifError>;
    heif_image_release(image: unknown): void;
    heif_colorspace: { heif_colorspace_RGB: number };
    heif_chroma: { heif_chroma_interleaved_RGBA: number };
    heif_channel: { heif_channel_interleaved: number };
    heif_error_code: { heif_error_Ok: number };
  }
  const libheif: LibHeif;
  export default libheif;
}
