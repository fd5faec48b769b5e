// The retrieval operations search and tagging need, behind one small interface: texts → ITC text
// vectors, an image → its ITC query vectors, image + texts → ITM match probabilities. Implemented
// here in-process (the CLI's `search`, `tags`, `match`) and by InferenceHost in the worker process
// (the app and `index`), so the search and tag code does not care where the model runs.
import { basename } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import { type BertTokenizer, loadBertTokenizer } from '../bert-tokenizer.ts';
import type { SessionSettings } from '../session.ts';
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

export class LocalRetrievalEncoder implements RetrievalEncoder {
  private constructor(readonly model: Blip2Retrieval, private readonly tokenizer: BertTokenizer, readonly modelId: string) {}

  static async load(dir: string, settings: SessionSettings = {}): Promise<LocalRetrievalEncoder> {
    const model = await Blip2Retrieval.load(dir, settings);
    const tokenizer = await loadBertTokenizer(dir);
    if (!tokenizer) {
      await model.dispose();
      throw new AppError('tokenizer_missing', 'the retrieval model folder has no tokenizer files (vocab.txt or tokenizer.json)', { file: dir });
    }
    const m = model.manifest;
    return new LocalRetrievalEncoder(model, tokenizer, retrievalModelId(dir, m.quantization?.weights ?? 'fp32', m.createdAt));
  }

  get queries(): number { return this.model.manifest.shapes.queries; }
  get embedDim(): number { return this.model.embedDim; }

  tokenize(text: string): number[] {
    const clean = text.trim();
    if (!clean) throw new AppError('invalid_argument', 'the text is empty');
    return this.tokenizer.encode(clean.slice(0, MAX_TEXT_CHARS)).ids;
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    // Batches of 64 keep the padded batch small when a vocabulary of a thousand prompts is embedded.
    for (let i = 0; i < texts.length; i += 64) {
      const enc = await this.model.encodeTexts(texts.slice(i, i + 64).map((t) => this.tokenize(t)));
      for (const e of enc) out.push(e.embeds);
    }
    return out;
  }

  async embedImage(imagePath: string): Promise<Float32Array> {
    return (await this.model.encodeImage(imagePath)).imageFeatures;
  }

  async itm(imagePath: string, texts: readonly string[]): Promise<number[]> {
    const enc = await this.model.encodeImage(imagePath);
    const out: number[] = [];
    for (const t of texts) out.push((await this.model.itm(enc.imageEmbeds, this.tokenize(t))).probMatch);
    return out;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
