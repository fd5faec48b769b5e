// A loaded BLIP-2 captioning model: sessions for the vision encoder and the Q-Former, the language
// model of its family (OPT or Flan-T5, language-models.ts) with its tokenizer, and the tasks built on
// them (caption, ask, chat). Nothing here depends on which language model it is.
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import { generate } from '../generation/generate.ts';
import type { GenerationOptions } from '../generation/types.ts';
import { loadPixelValues } from '../image/preprocess.ts';
import { ensureVerified, readManifest } from '../model-folder.ts';
import { type SessionSettings, floatTensor, type ort, run } from '../session.ts';
import type { TextTokenizer } from '../tokenizer.ts';
import { type LanguageText, openGraphs } from './language-model.ts';
import { languageModelFamily } from './language-models.ts';
import { ModelHalves } from './model-halves.ts';
import type { ChatTurn } from './prompts.ts';

export interface ImageEncoding {
  /** Vision encoder output [1, tokens, hidden] (kept in ONNX Runtime for the Q-Former). */
  imageEmbeds: ort.Tensor;
  queryOutput: Float32Array;
  /** Projected queries, the soft visual prompt [queries × lmHidden]. */
  prefix: Float32Array;
}

/** What generation needs of an encoding: the soft visual prompt alone (a third of a MB for OPT-2.7b). */
export type ImagePrefix = Pick<ImageEncoding, 'prefix'>;

export type GenerateOptions = Omit<GenerationOptions, 'eosTokenId' | 'historyPrefix'>;

export interface GeneratedText {
  text: string;
  /** Generated ids after the prompt, including the eos if produced. */
  tokenIds: number[];
  endedWithEos: boolean;
  score?: number;
}

export interface LoadOptions {
  /** One half of the model open at a time (model-halves.ts): less memory, a reload per switch. */
  lowMemory?: boolean;
}

export class Blip2Model {
  private constructor(
    readonly dir: string,
    readonly manifest: ModelManifest,
    /** The image side's and the language model's graphs (both open, or one at a time). */
    readonly halves: ModelHalves,
    /** The language model's tokenizer and wording (OPT, Flan-T5: language-models.ts). */
    readonly language: LanguageText,
  ) {}

  static async load(dir: string, settings: SessionSettings = {}, options: LoadOptions = {}): Promise<Blip2Model> {
    const manifest = await readManifest(dir);
    await ensureVerified(dir, manifest);
    const family = languageModelFamily(manifest, dir);
    const language = await family.text(dir, manifest);
    const halves = await ModelHalves.create({
      image: async () => {
        const [vision, qformer] = await openGraphs(dir, manifest, ['vision', 'qformer'], settings);
        return { vision, qformer };
      },
      language: () => family.open(dir, manifest, settings),
    }, options.lowMemory ?? false);
    return new Blip2Model(dir, manifest, halves, language);
  }

  async dispose(): Promise<void> {
    await this.halves.dispose();
  }

  /** The tokenizer of the language model; null when the folder has none this runtime can read. */
  get tokenizer(): TextTokenizer | null {
    return this.language.tokenizer;
  }

  /** Decodes and preprocesses an image file into pixel values [3 × S × S]. */
  async pixelValues(imagePath: string): Promise<Float32Array> {
    return (await loadPixelValues(imagePath, this.manifest.preprocess)).data;
  }

  /** The vision encoder alone: pixel values [3 × S × S] → image embeddings (kept in ORT). */
  async runVision(pixels: Float32Array): Promise<{ imageEmbeds: ort.Tensor; visionEmbeddings: Float32Array }> {
    const s = this.manifest.shapes.imageSize;
    const v = await this.halves.use('image', (g) => run(g.vision, { pixel_values: floatTensor(pixels, [1, 3, s, s]) }, 'vision encoder'));
    return { imageEmbeds: v.image_embeds, visionEmbeddings: v.vision_embeddings.data as Float32Array };
  }

  /** The Q-Former and language projection over one image's embeddings. */
  async runQFormer(imageEmbeds: ort.Tensor): Promise<{ queryOutput: Float32Array; prefix: Float32Array }> {
    const q = await this.halves.use('image', (g) => run(g.qformer, { image_embeds: imageEmbeds }, 'Q-Former'));
    return { queryOutput: q.query_output.data as Float32Array, prefix: q.language_projection.data as Float32Array };
  }

  async encodePixels(pixels: Float32Array): Promise<ImageEncoding & { visionEmbeddings: Float32Array }> {
    const v = await this.runVision(pixels);
    return { ...v, ...(await this.runQFormer(v.imageEmbeds)) };
  }

  async encodeImage(imagePath: string): Promise<ImageEncoding> {
    return this.encodePixels(await this.pixelValues(imagePath));
  }

  /** Token ids of a text prompt as HF's processor gives them (OPT: BOS first; T5: </s> last). */
  promptIds(text: string | undefined): number[] {
    return this.language.promptIds(text);
  }

  /** First-step logits after the prompt (one forward pass), for parity checks and scoring. */
  async firstStepLogits(enc: ImagePrefix, promptIds: readonly number[]): Promise<Float32Array> {
    return this.halves.use('language', (g) => g.stepper(enc.prefix, promptIds).prefill());
  }

  async generate(enc: ImagePrefix, promptIds: readonly number[], options: GenerateOptions = {}): Promise<GeneratedText> {
    const defaults = this.manifest.generation as GenerateOptions;
    const result = await this.halves.use('language', (g) => generate(g.stepper(enc.prefix, promptIds), {
      ...defaults, ...options, eosTokenId: this.manifest.tokens.eos, historyPrefix: this.language.historyPrefix,
    }));
    return { ...result, text: this.decode(result.tokenIds) };
  }

  decode(ids: readonly number[]): string {
    return this.language.decode(ids);
  }

  async caption(enc: ImagePrefix, opts: GenerateOptions & { prompt?: string; promptIds?: number[] } = {}): Promise<GeneratedText> {
    const { prompt, promptIds, ...gen } = opts;
    return this.generate(enc, promptIds ?? this.promptIds(prompt), gen);
  }

  /** Visual question answering in the wording of the model's language model. */
  async ask(enc: ImagePrefix, question: string, opts: GenerateOptions = {}): Promise<GeneratedText> {
    if (!question.trim()) throw new AppError('invalid_argument', 'the question is empty');
    return this.generate(enc, this.promptIds(this.language.prompts.question(question)), opts);
  }

  /** One chat turn; the caller keeps the history. */
  async chat(enc: ImagePrefix, history: readonly ChatTurn[], question: string, opts: GenerateOptions = {}): Promise<GeneratedText> {
    if (!question.trim()) throw new AppError('invalid_argument', 'the question is empty');
    return this.generate(enc, this.promptIds(this.language.prompts.chat(history, question)), opts);
  }
}
