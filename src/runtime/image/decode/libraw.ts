// RAW sensor data through LibRaw compiled to wasm (libraw-wasm; LibRaw is LGPL-2.1/CDDL-1.0), for
// RAW files whose embedded preview is missing or too small. LibRaw demosaics at half size (a 24 MP
// sensor gives 6 MP: plenty for the model's 224 px and the app's renditions, at a quarter of the
// work), applies the camera's white balance where the file records one (dcraw's -w; otherwise
// daylight, as dcraw) and the file's own orientation, and hands back 8-bit sRGB. The package's worker wrapper wants a browser Worker, and its loader would fetch the wasm by
// URL (Node's fetch cannot read file: URLs): the Emscripten module is created here from the
// package's file instead. Synchronous wasm: callers that must stay responsive go through decode-pool.ts.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { RgbImage } from '../pil-resize.ts';

interface LibRawImage { width: number; height: number; colors: number; bits: number; data: Uint8Array }
interface LibRawInstance {
  open(bytes: Uint8Array, settings: Record<string, unknown>): void;
  metadata(full: boolean): { width: number; height: number; color_data?: { cam_mul?: number[] } };
  imageData(): LibRawImage;
  delete?(): void;
}
interface LibRawModule { LibRaw: new () => LibRawInstance }

let ready: Promise<LibRawModule> | undefined;

function libraw(): Promise<LibRawModule> {
  ready ??= (async () => {
    // A computed specifier keeps bundlers out (the Emscripten glue reads import.meta.url).
    const specifier = 'libraw-wasm/dist/libraw.js';
    const factory = (await import(specifier)).default as (m: { wasmBinary: Uint8Array; print?: (s: string) => void; printErr?: (s: string) => void }) => Promise<LibRawModule>;
    const wasmPath = createRequire(import.meta.url).resolve('libraw-wasm/dist/libraw.wasm');
    // LibRaw prints its complaints ("Unexpected end of file"); keep them for the error instead.
    return factory({ wasmBinary: await readFile(wasmPath), print: noteLine, printErr: noteLine });
  })();
  return ready;
}

let lastLines: string[] = [];
function noteLine(line: string): void {
  lastLines.push(line);
  if (lastLines.length > 5) lastLines.shift();
}

/** The RAW file's sensor data as upright 8-bit RGB. Throws a plain-words Error when LibRaw cannot read it. */
export async function decodeRawBytes(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  const mod = await libraw();
  const raw = new mod.LibRaw();
  lastLines = [];
  try {
    let img: LibRawImage;
    try {
      const settings = { halfSize: true, outputBps: 8, outputColor: 1 };
      raw.open(bytes, settings);
      // LibRaw's camera-WB fallback differs from dcraw's when the file has none: ask only when it does.
      if ((raw.metadata(true).color_data?.cam_mul?.[0] ?? 0) > 0) raw.open(bytes, { ...settings, useCameraWb: true });
      img = raw.imageData();
    } catch (err) {
      const said = lastLines.map((l) => l.replace(/^[^:]*: /, '')).join('; ');
      throw new Error(`LibRaw cannot read the sensor data${said ? ` (${said})` : ''}: the file is damaged or from a camera LibRaw does not know`, { cause: err });
    }
    if (img.width * img.height > maxPixels) throw new Error(`pixel limit: the image is ${img.width}×${img.height} pixels`);
    if (img.colors !== 3 || img.bits !== 8) throw new Error(`LibRaw gave ${img.colors} colours at ${img.bits} bits, not 8-bit RGB`);
    return { data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.width * img.height * 3), width: img.width, height: img.height };
  } finally {
    raw.delete?.();
  }
}
