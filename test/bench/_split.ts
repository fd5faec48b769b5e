// Where does int4's logit error come from: the image side or the decoder?
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { loadPixelValues } from '../../src/runtime/image/preprocess.ts';
import { OptDecoderStepper } from '../../src/runtime/blip2/opt-stepper.ts';
import { compareLogits } from '../../src/runtime/logits-compare.ts';
const C = '/root/.cache/photo-assistant-bench';
const [imgDir, decDir] = process.argv.slice(2);
const opts = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' as const };
async function prefixOf(dir: string): Promise<Float32Array> {
  const m = await readManifest(dir);
  const px = (await loadPixelValues(join(process.cwd(), '../shared/photos/chelsea.jpg'), m.preprocess)).data;
  const v = await ort.InferenceSession.create(join(dir, 'vision.onnx'), opts);
  const e = (await v.run({ pixel_values: new ort.Tensor('float32', px, [1, 3, 224, 224]) })).image_embeds;
  await v.release();
  const q = await ort.InferenceSession.create(join(dir, 'qformer.onnx'), opts);
  const p = (await q.run({ image_embeds: e })).language_projection.data as Float32Array;
  await q.release();
  return p;
}
const cos = (a: Float32Array, b: Float32Array) => { let d = 0, x = 0, y = 0; for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; x += a[i] ** 2; y += b[i] ** 2; } return d / Math.sqrt(x * y); };
const pRef = await prefixOf(join(C, 'model-fp32'));
const pImg = await prefixOf(imgDir);
console.log('prefix cosine (image side vs fp32)', cos(pRef, pImg).toFixed(5));
const m = await readManifest(decDir);
const s = await ort.InferenceSession.create(join(decDir, 'decoder.onnx'), opts);
const ref = new Float32Array(readFileSync(join(C, 'logits-fp32.bin')).buffer.slice(0));
for (const [name, p] of [['fp32 prefix', pRef], ['quantized prefix', pImg]] as const) {
  const l = await new OptDecoderStepper(s, m.shapes.language!, p, [2]).prefill();
  const r = compareLogits(ref, l);
  console.log(`decoder ${decDir.split('/').pop()} with ${name}: cosine ${r.cosine.toFixed(5)} top1 ${r.top1Agrees} top5 ${r.top5Overlap}`);
}
