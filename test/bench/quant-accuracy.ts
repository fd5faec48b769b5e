// `npm run bench:quant -- [name=settings ...]`: where a quantized model's logit error comes from,
// and what other int4 settings would give. Needs `npm run bench -- fp32` first (its converted model
// and first-step logits are the reference). For the bench's own int4 model, and for each variant
// (converted to a scratch folder, measured, deleted), prints:
//   - the image side's error: cosine of the Q-Former's language projection (the decoder's prefix)
//     against fp32's, for the same photo;
//   - the decoder's error alone: first-step logits from fp32's prefix, against fp32's logits;
//   - both together, as `npm run bench` reports them.
// Variants are quant settings as JSON, e.g. b16='{"blockSize":16}' asym='{"asymmetric":true}'
// acc0='{"accuracyLevel":0}' (see src/builder/quant-plan.ts). KEEP_VARIANTS=1 keeps their folders
// (variant-<name> in the bench cache) for `npm run bench`'s children.
import * as ort from 'onnxruntime-node';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { OptDecoderStepper } from '../../src/runtime/blip2/opt-stepper.ts';
import { loadPixelValues } from '../../src/runtime/image/preprocess.ts';
import { compareLogits } from '../../src/runtime/logits-compare.ts';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { PHOTOS } from '../helpers/fixtures.ts';

const CACHE = process.env.PA_BENCH_CACHE ?? join(homedir(), '.cache', 'photo-assistant-bench');
const FP32 = join(CACHE, 'model-fp32');
const REF = join(CACHE, 'logits-fp32.bin');
if (!existsSync(join(FP32, 'model.json')) || !existsSync(REF)) {
  console.error('run `npm run bench -- fp32` first: its model and logits are the reference');
  process.exit(2);
}
const options = { intraOpNumThreads: 0, graphOptimizationLevel: 'all' as const };

async function prefixOf(dir: string): Promise<Float32Array> {
  const m = await readManifest(dir);
  const s = m.shapes.imageSize;
  const pixels = (await loadPixelValues(join(PHOTOS, 'chelsea.jpg'), m.preprocess)).data;
  const vision = await ort.InferenceSession.create(join(dir, 'vision.onnx'), options);
  const embeds = (await vision.run({ pixel_values: new ort.Tensor('float32', pixels, [1, 3, s, s]) })).image_embeds;
  await vision.release();
  const qformer = await ort.InferenceSession.create(join(dir, 'qformer.onnx'), options);
  const prefix = (await qformer.run({ image_embeds: embeds })).language_projection.data as Float32Array;
  await qformer.release();
  return prefix;
}

const cosine = (a: Float32Array, b: Float32Array) => compareLogits(a, b).cosine;
const reference = new Float32Array(new Uint8Array(readFileSync(REF)).buffer);
const refPrefix = await prefixOf(FP32);

async function measure(name: string, dir: string): Promise<void> {
  const m = await readManifest(dir);
  const prefix = await prefixOf(dir);
  const decoder = await ort.InferenceSession.create(join(dir, 'decoder.onnx'), options);
  const alone = compareLogits(reference, await new OptDecoderStepper(decoder, m.shapes.language!, refPrefix, [2]).prefill());
  const both = compareLogits(reference, await new OptDecoderStepper(decoder, m.shapes.language!, prefix, [2]).prefill());
  await decoder.release();
  console.log([name.padEnd(10), cosine(refPrefix, prefix).toFixed(5).padStart(12), alone.cosine.toFixed(5).padStart(14), both.cosine.toFixed(5).padStart(12), String(both.top5Overlap).padStart(6), (m.files['decoder.onnx.data'].bytes / 2 ** 30).toFixed(2).padStart(10)].join(' '));
}

console.log(`${'model'.padEnd(10)} ${'image side'.padStart(12)} ${'decoder alone'.padStart(14)} ${'together'.padStart(12)} ${'top-5'.padStart(6)} ${'dec. GiB'.padStart(10)}   (cosines against fp32)`);
if (existsSync(join(CACHE, 'model-int4', 'model.json'))) await measure('int4', join(CACHE, 'model-int4'));
if (existsSync(join(CACHE, 'model-int8', 'model.json'))) await measure('int8', join(CACHE, 'model-int8'));
for (const arg of process.argv.slice(2)) {
  const [name, json] = arg.split('=');
  const dir = join(CACHE, `variant-${name}`);
  rmSync(dir, { recursive: true, force: true });
  await convertCheckpoint(join(CACHE, 'blip2-opt-2.7b-random'), dir, { quant: 'int4', ...JSON.parse(json ?? '{}') });
  await measure(name, dir);
  if (!process.env.KEEP_VARIANTS) rmSync(dir, { recursive: true, force: true });
}
