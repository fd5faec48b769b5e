// The inference worker's image side, split from worker-service.ts: the per-photo encodings the
// captioning model and the retrieval model (runtime's LocalRetrievalEncoder) both use. One decode per photo; when the
// two folders have the same vision encoder (visionIsShared: equal fingerprints, sizes, quantization
// and preprocessing) one vision pass feeds the captioning Q-Former and the retrieval image-embeds
// graph, and the retrieval model's own vision session is never even created.
import { stat } from 'node:fs/promises';
import type { Blip2Model, ImageEncoding } from '../runtime/blip2/model.ts';
import type { LocalRetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import { visionIsShared } from '../runtime/blip2/retrieval-model.ts';
import { type RgbImage, decodeImage, pixelValuesFromRgb } from '../runtime/image/preprocess.ts';
import type { ort } from '../runtime/session.ts';
import { LOW_MEMORY_BATCH, type RetrievalModelInfo } from './protocol.ts';

/** Encodings kept per model for follow-up requests on the same photo (each holds the vision output). */
const ENCODING_CACHE_SIZE = 4;

export interface RetrievalEncodingData {
  /** The vision output the features came from (the captioning model's when shared), for ITM. */
  imageEmbeds: ort.Tensor;
  /** L2-normalized query vectors [queries × embedDim]. */
  imageFeatures: Float32Array;
}

/** What the host learns about the retrieval model the worker loaded. */
export function retrievalInfo(enc: LocalRetrievalEncoder, sharedVision: boolean): RetrievalModelInfo {
  const weights = enc.model.manifest.quantization.weights;
  return { dir: enc.dir, modelId: enc.modelId, weights, queries: enc.queries, embedDim: enc.embedDim, sharedVision };
}

/**
 * Image encodings for the models the worker holds, cached per photo version (path + mtime + size:
 * an edited photo is encoded again), with one decode per request and the vision pass shared when
 * the weights are. `visionRuns` counts every vision encoder run, so a request can report its own.
 */
export class ImageEncodings {
  private caption: Blip2Model | null = null;
  private retrieval: LocalRetrievalEncoder | null = null;
  private shared = false;
  private readonly captionCache = new Lru<ImageEncoding>(() => this.capacity);
  private readonly retrievalCache = new Lru<RetrievalEncodingData>(() => this.capacity);
  visionRuns = 0;

  /** Photos kept per model: more in low-memory mode, where a batch is encoded ahead of its requests. */
  private get capacity(): number {
    return this.caption?.halves.lowMemory ? LOW_MEMORY_BATCH : ENCODING_CACHE_SIZE;
  }

  /** Call whenever either model changes; cached encodings of the replaced model are dropped. */
  setModels(caption: Blip2Model | null, retrieval: LocalRetrievalEncoder | null): void {
    if (caption !== this.caption) this.captionCache.clear();
    if (retrieval !== this.retrieval || caption !== this.caption) this.retrievalCache.clear();
    this.caption = caption;
    this.retrieval = retrieval;
    this.shared = !!caption && !!retrieval && visionIsShared(caption.manifest, retrieval.model.manifest);
  }

  get sharedVision(): boolean {
    return this.shared;
  }

  clear(): void {
    this.captionCache.clear();
    this.retrievalCache.clear();
  }

  /** A photo opened for one request: its cache key and, only if some encoding is missing, one decode. */
  async open(imagePath: string): Promise<PhotoInput> {
    // A failed stat is left to decodeImage, which reports it as photo_unreadable naming the file.
    const key = await stat(imagePath).then((s) => `${s.mtimeMs}:${s.size}:${imagePath}`, () => null);
    let decoded: Promise<RgbImage> | undefined;
    return { key, rgb: () => (decoded ??= decodeImage(imagePath)) };
  }

  /** Vision → Q-Former → projection of the captioning model (vision reused from retrieval when shared). */
  async forCaption(model: Blip2Model, photo: PhotoInput): Promise<ImageEncoding> {
    const hit = this.captionCache.get(photo.key);
    if (hit) return hit;
    const fromRetrieval = this.shared ? this.retrievalCache.get(photo.key)?.imageEmbeds : undefined;
    const imageEmbeds = fromRetrieval ?? (await this.captionVision(model, photo)).imageEmbeds;
    const enc = { imageEmbeds, ...(await model.runQFormer(imageEmbeds)) };
    this.captionCache.set(photo.key, enc);
    return enc;
  }

  /** The retrieval query vectors; when shared, from the captioning model's vision output. */
  async forRetrieval(slot: LocalRetrievalEncoder, photo: PhotoInput): Promise<RetrievalEncodingData> {
    const hit = this.retrievalCache.get(photo.key);
    if (hit) return hit;
    let imageEmbeds: ort.Tensor;
    if (this.shared && this.caption) {
      imageEmbeds = this.captionCache.get(photo.key)?.imageEmbeds ?? (await this.captionVision(this.caption, photo)).imageEmbeds;
    } else {
      const pixels = pixelValuesFromRgb(await photo.rgb(), slot.model.manifest.preprocess);
      this.visionRuns++;
      imageEmbeds = (await slot.model.runVision(pixels)).imageEmbeds;
    }
    const enc = { imageEmbeds, imageFeatures: (await slot.model.encodeVisionOutput(imageEmbeds)).imageFeatures };
    this.retrievalCache.set(photo.key, enc);
    return enc;
  }

  private async captionVision(model: Blip2Model, photo: PhotoInput): Promise<{ imageEmbeds: ort.Tensor }> {
    const pixels = pixelValuesFromRgb(await photo.rgb(), model.manifest.preprocess);
    this.visionRuns++;
    return model.runVision(pixels);
  }
}

export interface PhotoInput {
  /** Null when the file could not be stat'ed (then nothing is cached and the decode reports why). */
  key: string | null;
  rgb(): Promise<RgbImage>;
}

/** Insertion-ordered map used as an LRU. */
class Lru<T> {
  private readonly map = new Map<string, T>();
  constructor(private readonly capacity: () => number) {}
  get(key: string | null): T | undefined {
    if (key === null) return undefined;
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit;
  }
  set(key: string | null, value: T): void {
    if (key === null) return;
    this.map.set(key, value);
    while (this.map.size > this.capacity()) this.map.delete(this.map.keys().next().value!);
  }
  clear(): void {
    this.map.clear();
  }
}
