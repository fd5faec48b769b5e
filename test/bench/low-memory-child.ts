// Child process: captions a batch of photos in low-memory mode (one model half open at a time) the
// way the CLI does: encode the batch, switch to the language model, caption each with 20 tokens.
// Reports the peak memory, each half's opening time and the time per photo, switches included.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOW_MEMORY_BATCH } from '../../src/jobs/protocol.ts';
import { Blip2Model, type ImagePrefix } from '../../src/runtime/blip2/model.ts';
import { peakRssMiB, timed } from './proc-stats.ts';

const [dir, photosDir, threads] = process.argv.slice(2);
const photos = readdirSync(photosDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
const batch = Array.from({ length: LOW_MEMORY_BATCH }, (_, i) => join(photosDir, photos[i % photos.length]));

const [model, imageOpenMs] = await timed(() => Blip2Model.load(dir, { threads: Number(threads ?? 0) }, { lowMemory: true }));
const prompt = model.promptIds(undefined);
const started = performance.now();
const encodings: ImagePrefix[] = [];
for (const photo of batch) encodings.push({ prefix: (await model.encodeImage(photo)).prefix }); // as the CLI keeps them
const [, languageOpenMs] = await timed(() => model.halves.use('language', async () => {}));
for (const enc of encodings) await model.generate(enc, prompt, { minNewTokens: 20, maxNewTokens: 20 });
const batchMs = performance.now() - started;
// The next batch starts by opening the image side again: time that switch too.
const [, imageReopenMs] = await timed(() => model.halves.use('image', async () => {}));
process.stdout.write(JSON.stringify({
  batch: batch.length,
  imageHalfOpenSeconds: imageOpenMs / 1000,
  imageHalfReopenSeconds: imageReopenMs / 1000,
  languageHalfOpenSeconds: languageOpenMs / 1000,
  // A steady run of batches pays both switches once per batch.
  secondsPerPhoto: (batchMs + imageReopenMs) / 1000 / batch.length,
  peakRssMiB: peakRssMiB(),
  halvesOpened: model.halves.opened,
}) + '\n');
await model.dispose();
