// Which checkpoints the builder knows: a map from HF architecture (and language-model type) to
// the sub-model builders that turn it into graphs. Adding a language model (Flan-T5) adds an entry
// here and a file per sub-model; nothing else branches on the architecture. OPT is one decoder graph;
// T5 an encoder graph (run once per prompt) and a decoder graph (one step per token).
// Blip2ForImageTextRetrieval is its own family: vision, image-embeds, text-embeds and itm graphs.
import { AppError } from '../shared/errors.ts';
import type { ModelManifest } from '../shared/model-manifest.ts';
import type { Ctx, TensorShapes } from './onnx/layers.ts';
import { buildOptDecoder } from './blip2/opt-decoder.ts';
import { buildQFormer } from './blip2/qformer.ts';
import { buildImageEmbeds, buildItm, buildTextEmbeds } from './blip2/retrieval.ts';
import { type Blip2Config, type LanguageSpec, type QFormerSpec, type RetrievalSpec, type VisionSpec, optSpec, qformerSpec, retrievalSpec, visionSpec } from './blip2/spec.ts';
import { buildVision } from './blip2/vision.ts';
import { buildT5Decoder } from './blip2/t5-decoder.ts';
import { buildT5Encoder } from './blip2/t5-encoder.ts';
import { type T5Spec, t5Spec } from './blip2/t5-spec.ts';

/** What a family's graphs are built from, plus the token ids recorded in the manifest. */
export interface FamilySpec {
  vision: VisionSpec;
  qformer: QFormerSpec;
  language?: LanguageSpec;
  retrieval?: RetrievalSpec;
  /** decoderStart: the first decoder token of an encoder-decoder language model. */
  tokens: { bos: number; eos: number[]; pad: number; decoderStart?: number };
}
type GenerationSpec = FamilySpec & { language: LanguageSpec };
type RetrievalFamilySpec = FamilySpec & { retrieval: RetrievalSpec };

/** Which weight-quantization policy of the plan a graph uses. */
export type QuantRole = 'vision' | 'qformer' | 'decoder';

export interface GraphPart<S extends FamilySpec = FamilySpec> {
  /** Graph key in the manifest and file stem: `${name}.onnx` + `${name}.onnx.data`. */
  name: string;
  role: QuantRole;
  build(ctx: Ctx, spec: S): void;
}

export interface ModelFamily<S extends FamilySpec = FamilySpec> {
  kind: ModelManifest['kind'];
  spec(src: TensorShapes, cfg: Blip2Config, file: string): S;
  parts: GraphPart<S>[];
}

/** A language model: its sizes and the graphs it adds beside the vision encoder and the Q-Former.
 *  Adding one is a spec function, graph files and an entry here. */
interface LanguageModelEntry<L extends LanguageSpec = LanguageSpec> {
  kind: ModelManifest['kind'];
  spec(src: TensorShapes, cfg: Blip2Config, file: string): L;
  parts: GraphPart<FamilySpec & { language: L }>[];
}

/** Erases an entry's own spec type for the map (each entry's builders only ever see its own spec). */
const languageModel = <L extends LanguageSpec>(e: LanguageModelEntry<L>) => e as unknown as LanguageModelEntry;

// Every language-model graph quantizes by the plan's 'decoder' policy (the LM's weights, encoder included).
const LANGUAGE_MODELS: Record<string, LanguageModelEntry> = {
  opt: languageModel({
    kind: 'blip2-opt', spec: optSpec,
    parts: [{ name: 'decoder', role: 'decoder', build: (ctx, s) => buildOptDecoder(ctx, s.language) }],
  }),
  t5: languageModel<T5Spec>({
    kind: 'blip2-t5', spec: t5Spec,
    parts: [
      { name: 'encoder', role: 'decoder', build: (ctx, s) => buildT5Encoder(ctx, s.language) },
      { name: 'decoder', role: 'decoder', build: (ctx, s) => buildT5Decoder(ctx, s.language) },
    ],
  }),
};

/** Vision encoder and Q-Former sizes, checked against each other. */
function blip2Base(src: TensorShapes, cfg: Blip2Config, file: string): { vision: VisionSpec; qformer: QFormerSpec } {
  const vision = visionSpec(src, cfg, file);
  const qformer = qformerSpec(src, cfg, file);
  if (qformer.encoderHidden !== vision.hidden) {
    throw new AppError('checkpoint_invalid', `Q-Former cross-attention expects ${qformer.encoderHidden}-wide image features but the vision encoder gives ${vision.hidden}`, { file });
  }
  return { vision, qformer };
}

function blip2Generation(lm: LanguageModelEntry): ModelFamily<GenerationSpec> {
  return {
    kind: lm.kind,
    spec: (src, cfg, file) => {
      const language = lm.spec(src, cfg, file);
      const base = blip2Base(src, cfg, file);
      const [projOut, projIn] = src.shape('language_projection.weight');
      if (projOut !== language.hidden || projIn !== base.qformer.hidden) {
        throw new AppError('checkpoint_invalid', `language_projection is ${projOut}×${projIn}, expected ${language.hidden}×${base.qformer.hidden} (language model × Q-Former width)`, { file });
      }
      const tokens = { bos: language.bos, eos: language.eos, pad: language.pad, ...(language.decoderStart === undefined ? {} : { decoderStart: language.decoderStart }) };
      return { ...base, language, tokens };
    },
    parts: [
      { name: 'vision', role: 'vision', build: (ctx, s) => buildVision(ctx, s.vision) },
      { name: 'qformer', role: 'qformer', build: (ctx, s) => buildQFormer(ctx, s.qformer, s.vision, s.language.hidden) },
      ...lm.parts,
    ],
  };
}

/** Blip2ForImageTextRetrieval: ITC embeddings for both sides and the ITM head; BERT token ids. */
const blip2Retrieval: ModelFamily<RetrievalFamilySpec> = {
  kind: 'blip2-itm',
  spec: (src, cfg, file) => {
    const base = blip2Base(src, cfg, file);
    // [CLS] starts every text, [SEP] ends it, [PAD] fills (bert-base-uncased ids).
    const pad = cfg.qformer_config?.pad_token_id ?? 0;
    return { ...base, retrieval: retrievalSpec(src, base.qformer, file), tokens: { bos: 101, eos: [102], pad } };
  },
  parts: [
    { name: 'vision', role: 'vision', build: (ctx, s) => buildVision(ctx, s.vision) },
    { name: 'image-embeds', role: 'qformer', build: (ctx, s) => buildImageEmbeds(ctx, s.qformer, s.vision, s.retrieval) },
    { name: 'text-embeds', role: 'qformer', build: (ctx, s) => buildTextEmbeds(ctx, s.qformer, s.retrieval) },
    { name: 'itm', role: 'qformer', build: (ctx, s) => buildItm(ctx, s.qformer, s.vision) },
  ],
};

const ARCHITECTURES: Record<string, (cfg: Blip2Config, file: string) => ModelFamily> = {
  Blip2ForConditionalGeneration: (cfg, file) => {
    const lmType = cfg.text_config?.model_type ?? 'opt';
    const lm = LANGUAGE_MODELS[lmType];
    if (!lm) {
      throw new AppError('checkpoint_unsupported', `BLIP-2 with a "${lmType}" language model is not supported yet; supported: ${SUPPORTED}`, { file });
    }
    return blip2Generation(lm);
  },
  Blip2ForImageTextRetrieval: () => blip2Retrieval,
};

export const SUPPORTED = 'Blip2ForConditionalGeneration with an OPT language model (Salesforce/blip2-opt-2.7b, blip2-opt-6.7b and their -coco variants) or a T5 one (Salesforce/blip2-flan-t5-xl, blip2-flan-t5-xxl, -coco), and Blip2ForImageTextRetrieval (Salesforce/blip2-itm-vit-g)';

/** Picks the builders for a checkpoint, or says clearly why it is not supported. */
export function resolveFamily(cfg: Blip2Config, file: string): { family: ModelFamily; architecture: string } {
  const architecture = cfg.architectures?.[0] ?? '';
  const pick = ARCHITECTURES[architecture];
  if (cfg.model_type !== 'blip-2' || !pick) {
    const what = architecture || cfg.model_type || 'unknown';
    throw new AppError('checkpoint_unsupported', `not a supported BLIP-2 checkpoint (architecture "${what}", model_type "${cfg.model_type ?? '?'}"); supported: ${SUPPORTED}`, { file });
  }
  return { family: pick(cfg, file), architecture };
}
