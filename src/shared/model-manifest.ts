// The manifest (model.json) a converted model folder carries: what it is, its shapes, tokens,
// preprocessing, generation defaults, and a checksum of every file. Shared by builder and runtime.
// Kinds: 'blip2-opt' (captioning / VQA with OPT), 'blip2-t5' (the same with Flan-T5, an
// encoder-decoder) and 'blip2-itm' (image-text retrieval).
import { z } from 'zod';
import { PreprocessSchema } from './preprocess-config.ts';

export const MANIFEST_FILE = 'model.json';
export const MANIFEST_FORMAT = 'photo-assistant-model';
// 2: the decoder graph no longer takes cache_index (beam reordering moved to the runtime).
// 3: decoders take past_key_values [B,past,h·d] and return only new_key_values (kv-cache.ts).
export const MANIFEST_VERSION = 3;

/** Kinds that caption and answer questions (a captioning "role" accepts any of them). */
export const CAPTION_KINDS = ['blip2-opt', 'blip2-t5'] as const;

const FileEntry = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() });
const QuantPolicy = z.object({
  bits: z.union([z.literal(4), z.literal(8)]), blockSize: z.number().int(), symmetric: z.boolean(), accuracyLevel: z.number().int(),
  kernel: z.enum(['MatMulNBits', 'DynamicQuantizeMatMul']).optional(),
});
const Graph = z.object({ file: z.string(), data: z.string().optional() });

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  kind: z.enum([...CAPTION_KINDS, 'blip2-itm']),
  architecture: z.string(),
  createdAt: z.string(),
  source: z.object({
    checkpoint: z.string(), configSha256: z.string(),
    /** Where a pulled model came from: Hub repo id, the revision asked for, the commit it resolved to. */
    repo: z.string().optional(), revision: z.string().optional(), commit: z.string().regex(/^[0-9a-f]{40}$/).optional(),
    /** Fingerprint of the vision_model.* tensors (names, shapes, values); equal in two folders = the
     *  same vision encoder, so one pass serves both. Optional: folders converted before it lack it. */
    visionSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  }),
  quantization: z.object({
    weights: z.enum(['fp32', 'int8', 'int4']),
    parts: z.record(z.string(), QuantPolicy.nullable()),
    /** The token table: float32, float16, or (OPT with an 8-bit head) the LM head's 8-bit copy. */
    embeddings: z.enum(['fp32', 'fp16', 'int8']).default('fp32'),
    note: z.string(),
  }),
  shapes: z.object({
    vision: z.record(z.string(), z.unknown()),
    qformer: z.record(z.string(), z.unknown()),
    /** The language model (captioning kinds only). */
    language: z.object({
      type: z.string(), hidden: z.number().int(), layers: z.number().int(), heads: z.number().int(),
      headDim: z.number().int(), vocabRows: z.number().int(), maxPositions: z.number().int(),
    }).loose().optional(),
    /** The retrieval heads and Q-Former text embeddings ('blip2-itm' only). */
    retrieval: z.object({
      embedDim: z.number().int(), vocabRows: z.number().int(), maxPositions: z.number().int(),
    }).loose().optional(),
    imageSize: z.number().int(),
    queries: z.number().int(),
  }),
  /** decoderStart: encoder-decoder language models ('blip2-t5') only. */
  tokens: z.object({ bos: z.number().int(), eos: z.array(z.number().int()).min(1), pad: z.number().int(), decoderStart: z.number().int().optional() }),
  preprocess: PreprocessSchema,
  generation: z.record(z.string(), z.union([z.number(), z.boolean(), z.array(z.number())])),
  /** 'blip2-opt': vision, qformer, decoder. 'blip2-t5': vision, qformer, encoder, decoder.
   *  'blip2-itm': vision, image-embeds, text-embeds, itm. */
  graphs: z.record(z.string(), Graph),
  tokenizer: z.array(z.string()),
  files: z.record(z.string(), FileEntry),
});
export type ModelManifest = z.infer<typeof ManifestSchema>;

/**
 * How captions and tags name the model that made them: `Salesforce/blip2-opt-2.7b@abc1234 int4` for a
 * model pulled from the Hub, `<folder name>:<weights>` for one converted from a local folder.
 */
export function modelLabel(m: Pick<ModelManifest, 'source' | 'quantization'>, folderName: string): string {
  const weights = m.quantization?.weights ?? 'fp32';
  if (m.source.repo && m.source.commit) return `${m.source.repo}@${m.source.commit.slice(0, 7)} ${weights}`;
  return `${folderName}:${weights}`;
}
