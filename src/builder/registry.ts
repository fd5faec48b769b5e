// Which checkpoints the builder knows: a map from HF architecture (and language-model type) to
// the sub-model builders that turn it into graphs. Adding a language model (Flan-T5) adds an entry
// here and a file per sub-model; nothing else branches on the architecture.
// Blip2ForImageTextRetrieval is its own family: vision, image-embeds, text-embeds and itm graphs.
import { AppError } from '../shared/errors.ts';
import type { ModelManifest } from '../shared/model-manifest.ts';
import type { Ctx, TensorShapes } from './onnx/layers.ts';
import { buildOptDecoder } from './blip2/opt-decoder.ts';
import { buildQFormer } from './blip2/qformer.ts';
import { buildImageEmbeds, buildItm, buildTextEmbeds } from './blip2/retrieval.ts';
import { type Blip2Config, type LanguageSpec, type QFormerSpec, type RetrievalSpec, type VisionSpec, optSpec, qformerSpec, retrievalSpec, visionSpec } from './blip2/spec.ts';
import { buildVision } from './blip2/vision.ts';

/** What a family's graphs are built from, plus the token ids recorded in the manifest. */
export interface FamilySpec {
  vision: VisionSpec;
  qformer: QFormerSpec;
  language?: LanguageSpec;
  retrieval?: RetrievalSpec;
  tokens: { bos: number; eos: number[]; pad: number };
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

interface LanguageModelEntry {
  spec(src: TensorShapes, cfg: Blip2Config, file: string): LanguageSpec;
  decoder: GraphPart<GenerationSpec>['build'];
  kind: ModelManifest['kind'];
}

const LANGUAGE_MODELS: Record<string, LanguageModelEntry> = {
  opt: { spec: optSpec, decoder: (ctx, s) => buildOptDecoder(ctx, s.language), kind: 'blip2-opt' },
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
      return { ...blip2Base(src, cfg, file), language, tokens: { bos: language.bos, eos: language.eos, pad: language.pad } };
    },
    parts: [
      { name: 'vision', role: 'vision', build: (ctx, s) => buildVision(ctx, s.vision) },
      { name: 'qformer', role: 'qformer', build: (ctx, s) => buildQFormer(ctx, s.qformer, s.vision, s.language.hidden) },
      { name: 'decoder', role: 'decoder', build: lm.decoder },
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

export const SUPPORTED = 'Blip2ForConditionalGeneration with an OPT language model (Salesforce/blip2-opt-2.7b, blip2-opt-6.7b and their -coco variants) and Blip2ForImageTextRetrieval (Salesforce/blip2-itm-vit-g)';

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
