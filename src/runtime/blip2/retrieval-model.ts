// A loaded BLIP-2 retrieval model ('blip2-itm', HF Blip2ForImageTextRetrieval): image and text
// embeddings in the shared space (ITC: similarity = max over the queries of the dot product of
// L2-normalized vectors, no temperature) and the image-text matching head (ITM, re-ranking).
// Text comes in as BERT token ids ([CLS] ... [SEP], at most 32 as BLIP-2 tokenizes); the tokenizer
// itself lives elsewhere. `sharedVisionWith` says whether a captioning folder has the same vision
// encoder, so one vision pass can feed both (encodeVisionOutput takes the captioning model's output).
import { join } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import { loadPixelValues } from '../image/preprocess.ts';
import { itcScore } from './itc-score.ts';
import { ensureVerified, readManifest } from '../model-folder.ts';
import { type SessionSettings, createSession, floatTensor, int64Tensor, type ort, run } from '../session.ts';

const GRAPHS = ['vision', 'image-embeds', 'text-embeds', 'itm'] as const;
type GraphName = (typeof GRAPHS)[number];

export interface RetrievalLoadOptions {
  /** Create the vision session on first use, not at load: a process that feeds the captioning
   *  model's vision output (equal weights) never pays for a second ViT-g in memory. */
  deferVision?: boolean;
}

export interface RetrievalImageEncoding {
  /** Vision encoder output [1, tokens, hidden] (kept in ONNX Runtime for the Q-Former passes). */
  imageEmbeds: ort.Tensor;
  visionEmbeddings: Float32Array;
  /** Q-Former output over the learned queries [queries × qformerHidden]. */
  queryOutput: Float32Array;
  /** L2-normalized projected queries [queries × embedDim], the image side of ITC. */
  imageFeatures: Float32Array;
}

export interface TextEncoding {
  /** Q-Former output at [CLS] [qformerHidden]. */
  clsHidden: Float32Array;
  /** L2-normalized projection [embedDim], the text side of ITC. */
  embeds: Float32Array;
}

export interface ItmResult {
  /** [no match, match] logits. */
  logits: [number, number];
  /** softmax(logits)[1]. */
  probMatch: number;
}

export class Blip2Retrieval {
  private constructor(
    readonly dir: string,
    readonly manifest: ModelManifest,
    private readonly sessions: Record<Exclude<GraphName, 'vision'>, ort.InferenceSession>,
    private vision: Promise<ort.InferenceSession> | null,
    private readonly settings: SessionSettings,
  ) {}

  static async load(dir: string, settings: SessionSettings = {}, opts: RetrievalLoadOptions = {}): Promise<Blip2Retrieval> {
    const manifest = await readManifest(dir);
    await ensureVerified(dir, manifest);
    if (manifest.kind !== 'blip2-itm' || !manifest.shapes.retrieval) {
      throw new AppError('model_invalid', `this is a "${manifest.kind}" model folder, not a retrieval model (blip2-itm)`, { file: dir });
    }
    for (const k of GRAPHS) if (!manifest.graphs[k]) throw new AppError('model_invalid', `model.json lists no "${k}" graph`, { file: dir });
    const eager = GRAPHS.filter((k) => k !== 'vision' || !opts.deferVision);
    const list = await Promise.all(eager.map((k) => openGraph(dir, manifest, k, settings)));
    const { vision, ...sessions } = Object.fromEntries(eager.map((k, i) => [k, list[i]])) as Record<GraphName, ort.InferenceSession>;
    return new Blip2Retrieval(dir, manifest, sessions, vision ? Promise.resolve(vision) : null, settings);
  }

  async dispose(): Promise<void> {
    const vision = this.vision?.then((s) => s.release(), () => {});
    this.vision = null;
    await Promise.all([...Object.values(this.sessions).map((s) => s.release()), vision]);
  }

  /** Width of the shared image-text space. */
  get embedDim(): number {
    return this.manifest.shapes.retrieval!.embedDim;
  }

  /** Decodes and preprocesses an image file into pixel values [3 × S × S]. */
  async pixelValues(imagePath: string): Promise<Float32Array> {
    return (await loadPixelValues(imagePath, this.manifest.preprocess)).data;
  }

  /** The vision encoder alone: pixel values [3 × S × S] → image embeddings (kept in ORT). */
  async runVision(pixels: Float32Array): Promise<{ imageEmbeds: ort.Tensor; visionEmbeddings: Float32Array }> {
    const s = this.manifest.shapes.imageSize;
    const session = await this.visionSession();
    const v = await run(session, { pixel_values: floatTensor(pixels, [1, 3, s, s]) }, 'vision encoder');
    return { imageEmbeds: v.image_embeds, visionEmbeddings: v.vision_embeddings.data as Float32Array };
  }

  /** The query pass over a vision output [1, tokens, hidden]: this model's own, or that of a
   *  captioning model with the same vision weights (see sharedVisionWith). */
  async encodeVisionOutput(imageEmbeds: ort.Tensor): Promise<{ queryOutput: Float32Array; imageFeatures: Float32Array }> {
    const q = await run(this.sessions['image-embeds'], { image_embeds: imageEmbeds }, 'Q-Former (image embeddings)');
    return { queryOutput: q.query_output.data as Float32Array, imageFeatures: q.image_feats.data as Float32Array };
  }

  /** Vision encoder + query pass over one image's pixel values [3 × S × S]. */
  async encodePixels(pixels: Float32Array): Promise<RetrievalImageEncoding> {
    const v = await this.runVision(pixels);
    return { ...v, ...(await this.encodeVisionOutput(v.imageEmbeds)) };
  }

  async encodeImage(imagePath: string): Promise<RetrievalImageEncoding> {
    return this.encodePixels(await this.pixelValues(imagePath));
  }

  /** ITC image side: L2-normalized query embeddings [queries × embedDim]. */
  async imageEmbeds(pixels: Float32Array): Promise<Float32Array> {
    return (await this.encodePixels(pixels)).imageFeatures;
  }

  /** ITC text side for one text's ids: L2-normalized [embedDim]. */
  async textEmbeds(ids: readonly number[]): Promise<Float32Array> {
    return (await this.encodeTexts([ids]))[0].embeds;
  }

  /** Several texts in one batch, right-padded with the pad id and masked. */
  async encodeTexts(texts: readonly (readonly number[])[]): Promise<TextEncoding[]> {
    if (texts.length === 0) return [];
    const len = Math.max(...texts.map((ids) => this.checkIds(ids).length));
    const ids = new BigInt64Array(texts.length * len).fill(BigInt(this.manifest.tokens.pad));
    const mask = new BigInt64Array(texts.length * len);
    texts.forEach((t, r) => t.forEach((id, c) => { ids[r * len + c] = BigInt(id); mask[r * len + c] = 1n; }));
    const out = await run(this.sessions['text-embeds'], {
      input_ids: int64Tensor(ids, [texts.length, len]),
      attention_mask: int64Tensor(mask, [texts.length, len]),
    }, 'Q-Former (text embeddings)');
    const cls = out.text_cls_hidden.data as Float32Array;
    const emb = out.text_embeds.data as Float32Array;
    const h = cls.length / texts.length;
    const d = emb.length / texts.length;
    return texts.map((_, r) => ({ clsHidden: cls.slice(r * h, (r + 1) * h), embeds: emb.slice(r * d, (r + 1) * d) }));
  }

  /** ITC similarity: the maximum over the queries of query · text (both L2-normalized = cosine). */
  itc(imageEmb: Float32Array, textEmb: Float32Array): number {
    const d = textEmb.length;
    if (d === 0 || imageEmb.length % d !== 0) {
      throw new AppError('invalid_argument', `image embeddings (${imageEmb.length} values) are not a whole number of ${d}-wide query vectors`);
    }
    return itcScore(imageEmb, textEmb, d);
  }

  /** ITM: the joint [queries; text] pass over one image's vision output and one text. */
  async itm(imageEmbeds: ort.Tensor, ids: readonly number[]): Promise<ItmResult> {
    this.checkIds(ids);
    const out = await run(this.sessions.itm, {
      image_embeds: imageEmbeds,
      input_ids: int64Tensor(ids, [1, ids.length]),
      attention_mask: int64Tensor(ids.map(() => 1), [1, ids.length]),
    }, 'Q-Former (image-text matching)');
    const [a, b] = out.itm_logits.data as Float32Array;
    const m = Math.max(a, b);
    const ea = Math.exp(a - m);
    const eb = Math.exp(b - m);
    return { logits: [a, b], probMatch: eb / (ea + eb) };
  }

  private visionSession(): Promise<ort.InferenceSession> {
    if (!this.vision) {
      const opening = openGraph(this.dir, this.manifest, 'vision', this.settings);
      // A failed open is not cached: the next request tries again and reports its own error.
      opening.catch(() => { if (this.vision === opening) this.vision = null; });
      this.vision = opening;
    }
    return this.vision;
  }

  private checkIds(ids: readonly number[]): readonly number[] {
    const r = this.manifest.shapes.retrieval!;
    if (ids.length === 0) throw new AppError('invalid_argument', 'the text has no tokens (expected at least [CLS] ... [SEP])');
    if (ids.length > r.maxPositions) {
      throw new AppError('invalid_argument', `the text has ${ids.length} tokens; the Q-Former takes at most ${r.maxPositions}`);
    }
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= r.vocabRows);
    if (bad !== undefined) throw new AppError('invalid_argument', `token id ${bad} is outside the Q-Former vocabulary (0-${r.vocabRows - 1})`);
    return ids;
  }
}

function openGraph(dir: string, manifest: ModelManifest, k: GraphName, settings: SessionSettings): Promise<ort.InferenceSession> {
  const graph = manifest.graphs[k];
  const identity = { sha256: manifest.files[graph.file].sha256 + (manifest.files[`${graph.file}.data`]?.sha256 ?? '') };
  return createSession(join(dir, graph.file), settings, identity);
}

/**
 * True when two model folders compute the same vision output for the same photo: equal vision
 * fingerprints (recorded at conversion), vision sizes, vision quantization and preprocessing.
 * Folders converted before the fingerprint existed are never shared.
 */
export function visionIsShared(a: ModelManifest, b: ModelManifest): boolean {
  const ha = a.source.visionSha256;
  return ha !== undefined && ha === b.source.visionSha256
    && a.shapes.imageSize === b.shapes.imageSize
    && sameJson(a.shapes.vision, b.shapes.vision)
    && sameJson(a.quantization.parts.vision ?? null, b.quantization.parts.vision ?? null)
    && sameJson(a.preprocess, b.preprocess);
}

/** visionIsShared for a captioning folder and a retrieval folder on disk. */
export async function sharedVisionWith(captionDir: string, retrievalDir: string): Promise<boolean> {
  const [a, b] = await Promise.all([readManifest(captionDir), readManifest(retrievalDir)]);
  return visionIsShared(a, b);
}

/** Structural equality of JSON values, independent of key order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]
    && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
