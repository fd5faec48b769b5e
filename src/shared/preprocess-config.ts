// The image preprocessing settings of a model (HF's preprocessor_config.json for BlipImageProcessor),
// read once by the builder into model.json and applied by the runtime. Pure data: no Node, no sharp.
import { z } from 'zod';
import { AppError } from './errors.ts';

/** The manifest's `preprocess` entry (model.json), as the runtime applies it. */
export const PreprocessSchema = z.object({
  width: z.number().int(), height: z.number().int(),
  mean: z.tuple([z.number(), z.number(), z.number()]), std: z.tuple([z.number(), z.number(), z.number()]),
  rescaleFactor: z.number(), doResize: z.boolean(), doRescale: z.boolean(), doNormalize: z.boolean(),
});
export type PreprocessConfig = z.infer<typeof PreprocessSchema>;

const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** BLIP-2's published preprocessing (preprocessor_config.json of the Salesforce/blip2-* checkpoints). */
export const DEFAULT_BLIP2_PREPROCESS: PreprocessConfig = {
  width: 224,
  height: 224,
  mean: CLIP_MEAN,
  std: CLIP_STD,
  rescaleFactor: 1 / 255,
  doResize: true,
  doRescale: true,
  doNormalize: true,
};

/** PIL's resampling enum value for BICUBIC, the only filter we reproduce. */
const PIL_BICUBIC = 3;
const PIL_NAMES = ['NEAREST', 'LANCZOS', 'BILINEAR', 'BICUBIC', 'BOX', 'HAMMING'];

const dim = z.number().int().positive().max(16384);
// HF accepts one number (used for all channels) or one per channel.
const perChannel = z.union([z.number().finite(), z.array(z.number().finite()).length(3)]);
const HfSchema = z.looseObject({
  image_processor_type: z.string().optional(),
  do_resize: z.boolean().optional(),
  // BlipImageProcessor turns an int into a square; {shortest_edge} belongs to other processors.
  size: z.union([dim, z.looseObject({ height: dim, width: dim })]).optional(),
  resample: z.number().int().optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().finite().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: perChannel.optional(),
  image_std: perChannel.optional(),
});

function triple(v: number | number[] | undefined, fallback: [number, number, number]): [number, number, number] {
  if (v === undefined) return [...fallback];
  return typeof v === 'number' ? [v, v, v] : [v[0], v[1], v[2]];
}

/**
 * Reads a HF `preprocessor_config.json` object. Missing keys take BlipImageProcessor's class
 * defaults (as HF does), e.g. size 384 — BLIP-2 checkpoints always spell out 224.
 */
export function preprocessConfigFromHf(json: unknown, file = 'preprocessor_config.json'): PreprocessConfig {
  const r = HfSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new AppError('model_invalid', `${file} is not a valid image preprocessor configuration: ${where}: ${issue.message}`, { file });
  }
  const c = r.data;
  if (c.image_processor_type !== undefined && !c.image_processor_type.startsWith('BlipImageProcessor')) {
    throw new AppError('model_invalid', `${file} asks for image processor "${c.image_processor_type}", but only BlipImageProcessor preprocessing is supported`, { file });
  }
  const resample = c.resample ?? PIL_BICUBIC;
  if (resample !== PIL_BICUBIC) {
    const name = PIL_NAMES[resample] ?? `unknown filter ${resample}`;
    throw new AppError('model_invalid', `${file} asks for resample=${resample} (${name}); only 3 (BICUBIC) is supported`, { file });
  }
  const size = typeof c.size === 'number' ? { height: c.size, width: c.size } : c.size ?? { height: 384, width: 384 };
  const std = triple(c.image_std, CLIP_STD);
  if (std.some((s) => s === 0)) {
    throw new AppError('model_invalid', `${file}: image_std must not contain 0`, { file });
  }
  return {
    width: size.width,
    height: size.height,
    mean: triple(c.image_mean, CLIP_MEAN),
    std,
    rescaleFactor: c.rescale_factor ?? 1 / 255,
    doResize: c.do_resize ?? true,
    doRescale: c.do_rescale ?? true,
    doNormalize: c.do_normalize ?? true,
  };
}
