// Child process: loads a converted model and times each stage on a real photo; writes first-step
// logits so the parent can compare quantized models with fp32.
import { writeFileSync } from 'node:fs';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { median, peakRssMiB, rssSplitMiB, timed } from './proc-stats.ts';

const [dir, photo, logitsOut, threads] = process.argv.slice(2);
const [model, loadMs] = await timed(() => Blip2Model.load(dir, { threads: Number(threads ?? 0) }));
const pixels = await model.pixelValues(photo);

const visionMs: number[] = [];
const qformerMs: number[] = [];
let enc = await model.encodePixels(pixels); // warm-up
for (let i = 0; i < 2; i++) {
  const [v, vms] = await timed(() => model.runVision(pixels));
  const [q, qms] = await timed(() => model.runQFormer(v.imageEmbeds));
  enc = { ...v, ...q };
  visionMs.push(vms);
  qformerMs.push(qms);
}
const prompt = model.promptIds(undefined); // OPT: [BOS 2]; Flan-T5: [</s> 1]
const prefillMs: number[] = [];
let logits = await model.firstStepLogits(enc, prompt);
for (let i = 0; i < 2; i++) {
  const [l, ms] = await timed(() => model.firstStepLogits(enc, prompt));
  logits = l;
  prefillMs.push(ms);
}
writeFileSync(logitsOut, Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));

// One caption with exactly 20 new tokens, from pixels to text; token times give per-token decode.
const stamps: number[] = [];
const [, captionMs] = await timed(async () => {
  const e = await model.encodePixels(pixels);
  return model.generate(e, prompt, { minNewTokens: 20, maxNewTokens: 20, onToken: () => stamps.push(performance.now()) });
});
const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
process.stdout.write(JSON.stringify({
  loadSeconds: loadMs / 1000,
  visionMs: median(visionMs), qformerMs: median(qformerMs),
  prefillMs: median(prefillMs),
  decodeMsPerToken: median(gaps),
  caption20Seconds: captionMs / 1000,
  captionTokens: stamps.length,
  peakRssMiB: peakRssMiB(),
  rssAnonMiB: rssSplitMiB().anon,
  rssFileMiB: rssSplitMiB().file,
}) + '\n');
await model.dispose();
