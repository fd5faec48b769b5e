// worker_threads entry for decode-pool.ts: decodes HEIF (libheif), JPEG XL (libjxl) or RAW (LibRaw) bytes in wasm
// off the caller's thread and sends back the RGB pixels (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { DECODERS, type DecodeKind } from './decode-pool.ts';

parentPort!.on('message', async (msg: { id: number; kind: DecodeKind; bytes: Uint8Array; maxPixels: number }) => {
  try {
    const img = await DECODERS[msg.kind](msg.bytes, msg.maxPixels);
    parentPort!.postMessage({ id: msg.id, ok: true, data: img.data, width: img.width, height: img.height }, [img.data.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, message: (err as Error).message });
  }
});
