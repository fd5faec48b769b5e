// One vision pass for captioning and retrieval. A tiny retrieval checkpoint is built from the itm
// fixture with the OPT fixture's vision_model.* tensors (same shapes), and a twin with one vision
// value changed. Conversion fingerprints the vision tensors; the worker's analyze must then run the
// vision encoder once and give the caption and features the separate paths give.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Checkpoint } from '../../src/builder/safetensors.ts';
import { InferenceHost } from '../../src/jobs/inference-host.ts';
import { forkTransport } from '../../src/jobs/transport.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { Blip2Retrieval, sharedVisionWith, visionIsShared } from '../../src/runtime/blip2/retrieval-model.ts';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { MANIFEST_FILE } from '../../src/shared/model-manifest.ts';
import { fixturePath, makeTempDir, maxAbsDiff } from '../helpers/fixtures.ts';
import { type TensorSpec, writeSafetensors } from '../helpers/safetensors-writer.ts';

let dir: string;
let captionDir: string;
let sharedDir: string;
let changedDir: string;
let originalDir: string;
let host: InferenceHost;
let caption: Blip2Model;
/** A fresh copy of a photo per use: the worker caches encodings by path, and these tests count passes. */
let copies = 0;
async function photo(name = 'chelsea_451x300.png'): Promise<string> {
  const to = join(dir, `photo-${copies++}-${name}`);
  await copyFile(fixturePath(`images/${name}`), to);
  return to;
}

/** The itm checkpoint with the OPT fixture's vision tensors; `tweak` edits them before writing. */
async function retrievalCheckpoint(out: string, tweak?: (name: string, values: Float32Array) => void): Promise<void> {
  const itm = await Checkpoint.open(fixturePath('itm'));
  const opt = await Checkpoint.open(fixturePath('opt'));
  try {
    const tensors: Record<string, TensorSpec> = {};
    for (const name of itm.names()) {
      const from = name.startsWith('vision_model.') ? opt : itm;
      assert.deepEqual(from.info(name).shape, itm.info(name).shape, name);
      const values = from.readFloat32(name);
      tweak?.(name, values);
      tensors[name] = { dtype: 'F32', shape: itm.info(name).shape, data: values };
    }
    await writeSafetensors(join(out, 'model.safetensors'), tensors);
  } finally {
    await itm.close();
    await opt.close();
  }
  for (const f of await readdir(fixturePath('itm'))) {
    if (f.endsWith('.json') || f === 'vocab.txt') await copyFile(fixturePath(`itm/${f}`), join(out, f));
  }
}

before(async () => {
  dir = await makeTempDir();
  captionDir = join(dir, 'caption');
  sharedDir = join(dir, 'retrieval-shared');
  changedDir = join(dir, 'retrieval-changed');
  originalDir = join(dir, 'retrieval-original');
  await convertCheckpoint(fixturePath('opt'), captionDir);
  await convertCheckpoint(fixturePath('itm'), originalDir);
  for (const [name, tweak] of [
    ['shared', undefined],
    ['changed', (n: string, v: Float32Array) => { if (n === 'vision_model.encoder.layers.1.mlp.fc2.bias') v[3] += 0.25; }],
  ] as const) {
    const ckpt = join(dir, `ckpt-${name}`);
    await mkdir(ckpt);
    await retrievalCheckpoint(ckpt, tweak);
    await convertCheckpoint(ckpt, name === 'shared' ? sharedDir : changedDir);
  }
  caption = await Blip2Model.load(captionDir);
  host = new InferenceHost({ transport: forkTransport(), backoffMs: 50 });
  await host.start();
  await host.load(captionDir, { threads: 1 });
});

after(async () => {
  await host?.shutdown();
  await caption?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('shared vision detection at conversion', () => {
  it('records a vision fingerprint: equal for equal tensors, different for one changed value', async () => {
    const [c, s, ch, o] = await Promise.all([captionDir, sharedDir, changedDir, originalDir].map((d) => readManifest(d)));
    for (const m of [c, s, ch, o]) assert.match(m.source.visionSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(s.source.visionSha256, c.source.visionSha256);
    assert.notEqual(ch.source.visionSha256, c.source.visionSha256);
    assert.notEqual(o.source.visionSha256, c.source.visionSha256);
    assert.equal(await sharedVisionWith(captionDir, sharedDir), true);
    assert.equal(await sharedVisionWith(captionDir, changedDir), false);
    assert.equal(await sharedVisionWith(captionDir, originalDir), false);
  });

  it('also requires equal preprocessing, and never shares folders without a fingerprint (which still load)', async () => {
    const c = await readManifest(captionDir);
    const s = await readManifest(sharedDir);
    assert.equal(visionIsShared(c, s), true);
    assert.equal(visionIsShared(c, { ...s, preprocess: { ...s.preprocess, mean: [0.5, 0.5, 0.5] } }), false);
    assert.equal(visionIsShared(c, { ...s, quantization: { ...s.quantization, parts: { ...s.quantization.parts, vision: { bits: 8, blockSize: 32, symmetric: true, accuracyLevel: 4 } } } }), false);
    const { visionSha256: _, ...oldSource } = s.source;
    assert.equal(visionIsShared(c, { ...s, source: oldSource }), false);

    // A folder converted before the fingerprint existed: model.json without the field still loads.
    const old = join(dir, 'retrieval-old');
    await convertCheckpoint(fixturePath('itm'), old);
    const json = JSON.parse(await readFile(join(old, MANIFEST_FILE), 'utf8'));
    delete json.source.visionSha256;
    await writeFile(join(old, MANIFEST_FILE), JSON.stringify(json));
    const m = await Blip2Retrieval.load(old);
    await m.dispose();
    assert.equal(await sharedVisionWith(captionDir, old), false);
  });
});

describe('analyze in the worker: one decode, one vision pass when shared', { timeout: 120_000 }, () => {
  it('shared: one vision pass gives the caption of `caption` and the features of the retrieval model', async () => {
    const info = await host.loadRetrieval(sharedDir, { threads: 1 });
    assert.equal(info.sharedVision, true);
    const image = await photo();
    const tokens: number[] = [];
    const r = await host.analyze(image, { caption: { maxNewTokens: 8 }, embed: true }, { onToken: (t) => tokens.push(t.tokenId) });
    assert.equal(r.visionPasses, 1);
    assert.ok(r.caption && r.features);
    assert.deepEqual(tokens, r.caption.tokenIds);

    const ref = await caption.caption(await caption.encodeImage(image), { maxNewTokens: 8 });
    assert.deepEqual(r.caption.tokenIds, ref.tokenIds);
    assert.deepEqual(r.caption, await host.caption(await photo(), { maxNewTokens: 8 }));

    // The retrieval model's own vision graph (in-process) gives the same features: sharing is exact.
    const own = await Blip2Retrieval.load(sharedDir);
    try {
      const d = maxAbsDiff(r.features, (await own.encodeImage(image)).imageFeatures);
      assert.ok(d <= 1e-5, `features vs the retrieval model's own vision: ${d}`);
    } finally {
      await own.dispose();
    }
    const embedded = await host.embedImage(await photo());
    assert.ok(maxAbsDiff(r.features, embedded) <= 1e-5);
    assert.deepEqual(await host.embedImage(image), r.features); // cached from analyze: the same vectors
  });

  it('shared: embed-only analysis and embedImage reuse the captioning vision; a repeat costs no pass', async () => {
    const image = await photo('gradient_320x200.png');
    const first = await host.analyze(image, { embed: true });
    assert.equal(first.visionPasses, 1);
    assert.equal(first.caption, undefined);
    const again = await host.analyze(image, { caption: { maxNewTokens: 4 }, embed: true });
    assert.equal(again.visionPasses, 0);
    assert.deepEqual(again.features, first.features);
    assert.deepEqual(again.caption?.tokenIds, (await caption.caption(await caption.encodeImage(image), { maxNewTokens: 4 })).tokenIds);
  });

  it('not shared: both vision encoders run on one decode, with the same results as the separate paths', async () => {
    const info = await host.loadRetrieval(changedDir, { threads: 1 });
    assert.equal(info.sharedVision, false);
    const image = await photo();
    const r = await host.analyze(image, { caption: { maxNewTokens: 8 }, embed: true });
    assert.equal(r.visionPasses, 2);
    assert.deepEqual(r.caption?.tokenIds, (await caption.caption(await caption.encodeImage(image), { maxNewTokens: 8 })).tokenIds);
    const own = await Blip2Retrieval.load(changedDir);
    try {
      const features = (await own.encodeImage(image)).imageFeatures;
      assert.ok(maxAbsDiff(r.features!, features) <= 1e-5);
      assert.ok(maxAbsDiff(await host.embedImage(await photo()), features) <= 1e-5);
    } finally {
      await own.dispose();
    }
  });
});
