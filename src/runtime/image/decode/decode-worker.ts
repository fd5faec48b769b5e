// worker_threads entry for decode-pool.ts: decodes HEIF (libheif) or JPEG XL (libjxl) bytes in wasm
// off the caller's thread and sends back the RGB pixels (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { decodeHeifBytes } from './heif.ts';
import { decodeJxlBytes } from './jxl.ts';

parentPort!.on('message', async (msg: { id: number; kind: 'heif' | 'jxl'; bytes: Uint8Array; maxPixels: number }) => {
  try {
    const img = await (msg.kind === 'jxl' ? decodeJxlBytes : decodeHeifBytes)(msg.bytes, msg.maxPixels);
    parentPort!.postMessage({ id: msg.id, ok: true, data: img.data, width: img.width, height: img.height }, [img.data.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, message: (err as Error).message });
  }
});
