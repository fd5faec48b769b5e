// JPEG XL through libjxl compiled to wasm (@jsquash/jxl, from Squoosh). The bundled libvips has no
// libjxl, so this is the only JXL path. The wasm is compiled from the package's file (Node's fetch
// cannot load file: URLs, which the package's own loader would try). Synchronous wasm: callers that
// must stay responsive go through decode-pool.ts.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { RgbImage } from '../pil-resize.ts';

interface JxlModule {
  init(module: WebAssembly.Module): Promise<unknown>;
  default(bytes: ArrayBuffer): Promise<{ data: Uint8ClampedArray; width: number; height: number }>;
}

let ready: Promise<JxlModule> | undefined;

function jxl(): Promise<JxlModule> {
  ready ??= (async () => {
    // A computed specifier keeps bundlers out: the package's emscripten glue assigns to
    // import.meta.url, which the Electron build's import.meta rewrite cannot take.
    const specifier = '@jsquash/jxl/decode.js';
    const mod = (await import(specifier)) as unknown as JxlModule;
    const wasmPath = createRequire(import.meta.url).resolve('@jsquash/jxl/codec/dec/jxl_dec.wasm');
    await mod.init(await WebAssembly.compile(await readFile(wasmPath)));
    return mod;
  })();
  return ready;
}

/** A JPEG XL file as 8-bit RGB (alpha dropped, as PIL's convert("RGB")). */
export async function decodeJxlBytes(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  const mod = await jxl();
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const img = await mod.default(ab);
  if (img.width * img.height > maxPixels) throw new Error(`pixel limit: the image is ${img.width}×${img.height} pixels`);
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    data[d] = img.data[s];
    data[d + 1] = img.data[s + 1];
    data[d + 2] = img.data[s + 2];
  }
  return { data, width: img.width, height: img.height };
}
