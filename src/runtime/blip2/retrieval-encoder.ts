// The retrieval operations search and tagging need, behind one small interface: texts → ITC text
// vectors, an image → its ITC query vectors, image + texts → ITM match probabilities. Implemented
// here in-process (the CLI's `search`, `tags`, `match`) and by InferenceHost in the worker process
// (the app and `index`), so the search and tag code does not care where the model runs.
import { basename } from 'node:path';
import { AppError, throwIfAborted } from '../../shared/errors.ts';
import { type BertTokenizer, loadBertTokenizer } from '../bert-tokenizer.ts';
import type { SessionSettings, ort } from '../session.ts';
import { Blip2Retrieval } from './retrieval-model.ts';

export interface RetrievalEncoder {
  /** Stable id of the model (folder name + weights), the key for stored embeddings and cached text vectors. */
  readonly modelId: string;
  /** Query vectors per image and their width (32 × 256 for the official checkpoint). */
  readonly queries: number;
  readonly embedDim: number;
  /** One L2-normalized [embedDim] vector per text (clipped to the Q-Former's 32 tokens). */
  embedTexts(texts: readonly string[]): Promise<Float32Array[]>;
  /** L2-normalized query vectors [queries × embedDim] of one image file. */
  embedImage(imagePath: string): Promise<Float32Array>;
  /** ITM P(match) of one image with each text. */
  itm(imagePath: string, texts: readonly string[]): Promise<number[]>;
  dispose(): Promise<void>;
}

/** Model id stored beside embeddings: a re-converted or re-quantized model gets a new id. */
export function retrievalModelId(dir: string, weights: string, createdAt: string): string {
  return `${basename(dir)}:${weights}:${createdAt}`;
}

/** Texts go in as at most this many characters: longer input is clipped before tokenizing (the
 *  Q-Former reads 32 tokens anyway), so a pasted document cannot cost a huge tokenization. */
export const MAX_TEXT_CHARS = 2000;

/** Texts per text-embeds batch: keeps the padded batch small when a large vocabulary is embedded. */
const TEXT_BATCH = 64;

/**
 * A loaded retrieval model with its tokenizer: the one implementation, used in-process by the CLI and
 * inside the inference worker (which also hands it vision outputs it already has: `itmWith`).
 */
export class LocalRetrievalEncoder implements RetrievalEncoder {
  private constructor(readonly dir: string, readonly model: Blip2Retrieval, private readonly tokenizer: BertTokenizer, readonly modelId: string) {}

  /** `deferVision`: the vision session is created only if used (the worker may share the captioner's). */
  static async load(dir: string, settings: SessionSettings = {}, opts: { deferVision?: boolean } = {}): Promise<LocalRetrievalEncoder> {
    const model = await Blip2Retrieval.load(dir, settings, opts);
    const tokenizer = await loadBertTokenizer(dir).catch(async (err) => { await model.dispose(); throw err; });
    if (!tokenizer) {
      await model.dispose();
      throw new AppError('tokenizer_missing', 'the retrieval model folder has no tokenizer files (vocab.txt or tokenizer.json)', { file: dir });
    }
    const m = model.manifest;
    return new LocalRetrievalEncoder(dir, model, tokenizer, retrievalModelId(dir, m.quantization?.weights ?? 'fp32', m.createdAt));
  }

  get queries(): number { return this.model.manifest.shapes.queries; }
  get embedDim(): number { return this.model.embedDim; }

  /** Trimmed, non-empty, clipped to MAX_TEXT_CHARS before tokenizing; `index` names the text of a list. */
  tokenize(text: string, index?: number): number[] {
    const clean = text.trim();
    if (!clean) throw new AppError('invalid_argument', index === undefined ? 'the text is empty' : `text ${index + 1} is empty`);
    return this.tokenizer.encode(clean.slice(0, MAX_TEXT_CHARS)).ids;
  }

  /** All texts' vectors, row after row [texts × embedDim]; every text is checked before any runs. */
  async embedTextRows(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array> {
    const ids = texts.map((t, i) => this.tokenize(t, texts.length > 1 ? i : undefined));
    const out = new Float32Array(texts.length * this.embedDim);
    for (let i = 0; i < ids.length; i += TEXT_BATCH) {
      throwIfAborted(signal);
      const enc = await this.model.encodeTexts(ids.slice(i, i + TEXT_BATCH));
      enc.forEach((e, j) => out.set(e.embeds, (i + j) * this.embedDim));
    }
    return out;
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    const rows = await this.embedTextRows(texts);
    return texts.map((_, i) => rows.subarray(i * this.embedDim, (i + 1) * this.embedDim));
  }

  async embedImage(imagePath: string): Promise<Float32Array> {
    return (await this.model.encodeImage(imagePath)).imageFeatures;
  }

  /** ITM P(match) of a vision output (imageEmbeds) with each text. */
  async itmWith(imageEmbeds: ort.Tensor, texts: readonly string[], signal?: AbortSignal): Promise<number[]> {
    const ids = texts.map((t, i) => this.tokenize(t, texts.length > 1 ? i : undefined));
    const out: number[] = [];
    for (const t of ids) {
      throwIfAborted(signal);
      out.push((await this.model.itm(imageEmbeds, t)).probMatch);
    }
    return out;
  }

  async itm(imagePath: string, texts: readonly string[]): Promise<number[]> {
    return this.itmWith((await this.model.encodeImage(imagePath)).imageEmbeds, texts);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
