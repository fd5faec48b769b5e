// Which checkpoints the builder knows: a map from HF architecture (and language-model type) to
// the sub-model builders that turn it into graphs. Adding Flan-T5 or the retrieval model adds an
// entry here and a file per sub-model; nothing else branches on the architecture.
import { AppError } from '../shared/errors.ts';
import type { ModelManifest } from '../shared/model-manifest.ts';
import type { Ctx, TensorSource } from './onnx/layers.ts';
import type { QuantPlan } from './quant-plan.ts';
import { buildOptDecoder } from './blip2/opt-decoder.ts';
import { buildQFormer } from './blip2/qformer.ts';
import { type Blip2Config, type LanguageSpec, type QFormerSpec, type VisionSpec, optSpec, qformerSpec, visionSpec } from './blip2/spec.ts';
import { buildVision } from './blip2/vision.ts';

export interface FamilySpec {
  vision: VisionSpec;
  qformer: QFormerSpec;
  language: LanguageSpec;
}

export interface GraphPart {
  /** Graph key in the manifest and file stem: `${name}.onnx` + `${name}.onnx.data`; also its quantization role. */
  name: keyof ModelManifest['graphs'] & keyof QuantPlan;
  build(ctx: Ctx, spec: FamilySpec): void;
}

export interface ModelFamily {
  kind: ModelManifest['kind'];
  spec(src: TensorSource, cfg: Blip2Config, file: string): FamilySpec;
  parts: GraphPart[];
}

interface LanguageModelEntry {
  spec(src: TensorSource, cfg: Blip2Config, file: string): LanguageSpec;
  decoder: GraphPart['build'];
  kind: ModelManifest['kind'];
}

const LANGUAGE_MODELS: Record<string, LanguageModelEntry> = {
  opt: { spec: optSpec, decoder: (ctx, s) => buildOptDecoder(ctx, s.language), kind: 'blip2-opt' },
};

function blip2Generation(lm: LanguageModelEntry): ModelFamily {
  return {
    kind: lm.kind,
    spec: (src, cfg, file) => {
      const vision = visionSpec(src, cfg, file);
      const qformer = qformerSpec(src, cfg, file);
      if (qformer.encoderHidden !== vision.hidden) {
        throw new AppError('checkpoint_invalid', `Q-Former cross-attention expects ${qformer.encoderHidden}-wide image features but the vision encoder gives ${vision.hidden}`, { file });
      }
      return { vision, qformer, language: lm.spec(src, cfg, file) };
    },
    parts: [
      { name: 'vision', build: (ctx, s) => buildVision(ctx, s.vision) },
      { name: 'qformer', build: (ctx, s) => buildQFormer(ctx, s.qformer, s.vision, s.language.hidden) },
      { name: 'decoder', build: lm.decoder },
    ],
  };
}

const ARCHITECTURES: Record<string, (cfg: Blip2Config) => string | undefined> = {
  Blip2ForConditionalGeneration: (cfg) => cfg.text_config?.model_type ?? 'opt',
};

export const SUPPORTED = 'Blip2ForConditionalGeneration with an OPT language model (Salesforce/blip2-opt-2.7b, blip2-opt-6.7b and their -coco variants)';

/** Picks the builders for a checkpoint, or says clearly why it is not supported. */
export function resolveFamily(cfg: Blip2Config, file: string): { family: ModelFamily; architecture: string } {
  const architecture = cfg.architectures?.[0] ?? '';
  const lmType = ARCHITECTURES[architecture]?.(cfg);
  if (cfg.model_type !== 'blip-2' || lmType === undefined) {
    const what = architecture || cfg.model_type || 'unknown';
    throw new AppError('checkpoint_unsupported', `not a supported BLIP-2 checkpoint (architecture "${what}", model_type "${cfg.model_type ?? '?'}"); supported: ${SUPPORTED}`, { file });
  }
  const lm = LANGUAGE_MODELS[lmType];
  if (!lm) {
    throw new AppError('checkpoint_unsupported', `BLIP-2 with a "${lmType}" language model is not supported yet; supported: ${SUPPORTED}`, { file });
  }
  return { family: blip2Generation(lm), architecture };
}
