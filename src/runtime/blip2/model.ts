// A loaded BLIP-2 captioning model: sessions for the vision encoder, the Q-Former and the
// language model, the tokenizer, and the tasks built on them (caption, ask, chat).
import { join } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import { generate } from '../generation/generate.ts';
import type { GenerationOptions } from '../generation/types.ts';
import { loadPixelValues } from '../image/preprocess.ts';
import { readManifest } from '../model-folder.ts';
import { type SessionSettings, createSession, floatTensor, type ort, run } from '../session.ts';
import { type TextTokenizer, decodeGenerated, loadOptTokenizer } from '../tokenizer.ts';
import { OptDecoderStepper } from './opt-stepper.ts';
import { CacheReorder } from './cache-reorder.ts';
import { type ChatTurn, chatPrompt, questionPrompt } from './prompts.ts';

export interface ImageEncoding {
  /** Vision encoder output [1, tokens, hidden] (kept in ONNX Runtime for the Q-Former). */
  imageEmbeds: ort.Tensor;
  queryOutput: Float32Array;
  /** Projected queries, the soft visual prompt [queries × lmHidden]. */
  prefix: Float32Array;
}

export type GenerateOptions = Omit<GenerationOptions, 'eosTokenId'>;

export interface GeneratedText {
  text: string;
  /** Generated ids after the prompt, including the eos if produced. */
  tokenIds: number[];
  endedWithEos: boolean;
  score?: number;
}

export class Blip2Model {
  private constructor(
    readonly dir: string,
    readonly manifest: ModelManifest,
    readonly tokenizer: TextTokenizer | null,
    private readonly vision: ort.InferenceSession,
    private readonly qformer: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    private readonly reorder: CacheReorder,
  ) {}

  static async load(dir: string, settings: SessionSettings = {}): Promise<Blip2Model> {
    const manifest = await readManifest(dir);
    if (manifest.kind !== 'blip2-opt' || !manifest.shapes.language) {
      throw new AppError('model_invalid', `this is a "${manifest.kind}" model folder, not a captioning model (blip2-opt)`, { file: dir });
    }
    const tokenizer = await loadOptTokenizer(dir);
    const [vision, qformer, decoder] = await Promise.all(
      (['vision', 'qformer', 'decoder'] as const).map((k) => {
        const file = manifest.graphs[k].file;
        return createSession(join(dir, file), settings, { sha256: manifest.files[file].sha256 + (manifest.files[`${file}.data`]?.sha256 ?? '') });
      }),
    );
    const cacheNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
    return new Blip2Model(dir, manifest, tokenizer, vision, qformer, decoder, await CacheReorder.create(cacheNames, settings));
  }

  async dispose(): Promise<void> {
    await Promise.all([this.vision.release(), this.qformer.release(), this.decoder.release(), this.reorder.release()]);
  }

  /** Decodes and preprocesses an image file into pixel values [3 × S × S]. */
  async pixelValues(imagePath: string): Promise<Float32Array> {
    return (await loadPixelValues(imagePath, this.manifest.preprocess)).data;
  }

  /** The vision encoder alone: pixel values [3 × S × S] → image embeddings (kept in ORT). */
  async runVision(pixels: Float32Array): Promise<{ imageEmbeds: ort.Tensor; visionEmbeddings: Float32Array }> {
    const s = this.manifest.shapes.imageSize;
    const v = await run(this.vision, { pixel_values: floatTensor(pixels, [1, 3, s, s]) }, 'vision encoder');
    return { imageEmbeds: v.image_embeds, visionEmbeddings: v.vision_embeddings.data as Float32Array };
  }

  /** The Q-Former and language projection over one image's embeddings. */
  async runQFormer(imageEmbeds: ort.Tensor): Promise<{ queryOutput: Float32Array; prefix: Float32Array }> {
    const q = await run(this.qformer, { image_embeds: imageEmbeds }, 'Q-Former');
    return { queryOutput: q.query_output.data as Float32Array, prefix: q.language_projection.data as Float32Array };
  }

  async encodePixels(pixels: Float32Array): Promise<ImageEncoding & { visionEmbeddings: Float32Array }> {
    const v = await this.runVision(pixels);
    return { ...v, ...(await this.runQFormer(v.imageEmbeds)) };
  }

  async encodeImage(imagePath: string): Promise<ImageEncoding> {
    return this.encodePixels(await this.pixelValues(imagePath));
  }

  /** Token ids of a text prompt as HF's processor gives them (BOS first). */
  promptIds(text: string | undefined): number[] {
    if (!text) return [this.manifest.tokens.bos];
    if (!this.tokenizer) {
      throw new AppError('tokenizer_missing', 'this model has no tokenizer files, so text prompts cannot be used; pass token ids instead', { file: this.dir });
    }
    return this.tokenizer.encode(text);
  }

  /** First-step logits after the prompt (one forward pass), for parity checks and scoring. */
  async firstStepLogits(enc: ImageEncoding, promptIds: readonly number[]): Promise<Float32Array> {
    return new OptDecoderStepper(this.decoder, this.reorder, this.manifest.shapes.language!, enc.prefix, promptIds).prefill();
  }

  async generate(enc: ImageEncoding, promptIds: readonly number[], options: GenerateOptions = {}): Promise<GeneratedText> {
    const defaults = this.manifest.generation as GenerateOptions;
    const stepper = new OptDecoderStepper(this.decoder, this.reorder, this.manifest.shapes.language!, enc.prefix, promptIds);
    const result = await generate(stepper, { ...defaults, ...options, eosTokenId: this.manifest.tokens.eos });
    return { ...result, text: this.decode(result.tokenIds) };
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer ? decodeGenerated(this.tokenizer, ids) : '';
  }

  async caption(enc: ImageEncoding, opts: GenerateOptions & { prompt?: string; promptIds?: number[] } = {}): Promise<GeneratedText> {
    const { prompt, promptIds, ...gen } = opts;
    return this.generate(enc, promptIds ?? this.promptIds(prompt), gen);
  }

  async ask(enc: ImageEncoding, question: string, opts: GenerateOptions = {}): Promise<GeneratedText> {
    if (!question.trim()) throw new AppError('invalid_argument', 'the question is empty');
    return this.generate(enc, this.promptIds(questionPrompt(question)), opts);
  }

  /** One chat turn; the caller keeps the history. */
  async chat(enc: ImageEncoding, history: readonly ChatTurn[], question: string, opts: GenerateOptions = {}): Promise<GeneratedText> {
    if (!question.trim()) throw new AppError('invalid_argument', 'the question is empty');
    return this.generate(enc, this.promptIds(chatPrompt(history, question)), opts);
  }
}
