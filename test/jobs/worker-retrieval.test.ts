// Retrieval in the inference worker (a real child process): text and image vectors and ITM
// probabilities against Hugging Face's numbers for the tiny itm fixture, the RetrievalEncoder over
// the host equal to the in-process one, errors as data, and a crash after which the host reloads
// both models.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { InferenceHost, type InferenceHostEvents } from '../../src/jobs/inference-host.ts';
import { HostRetrievalEncoder } from '../../src/jobs/host-retrieval-encoder.ts';
import { LocalRetrievalEncoder, type RetrievalEncoder, retrievalModelId } from '../../src/runtime/blip2/retrieval-encoder.ts';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { forkTransport } from '../../src/jobs/transport.ts';
import { fixturePath, makeTempDir, maxAbsDiff, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('itm/golden.json');
const TOL = 1e-4;
const TEXTS: string[] = golden.texts.map((t: { text: string }) => t.text);
const IMAGES: string[] = golden.images;

let dir: string;
let itmDir: string;
let captionDir: string;
let host: InferenceHost;
let local: LocalRetrievalEncoder;
const restarts: InferenceHostEvents['restart'][] = [];

function hasCode(code: string, ...patterns: RegExp[]) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got ${String(err)}`);
    for (const p of patterns) assert.match((err as Error).message, p);
    return true;
  };
}
function within(key: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tol = TOL): void {
  const diff = maxAbsDiff(ours, ref);
  assert.ok(diff <= tol, `${key}: max abs diff ${diff} > ${tol}`);
}

before(async () => {
  dir = await makeTempDir();
  itmDir = join(dir, 'itm');
  captionDir = join(dir, 'caption');
  await convertCheckpoint(fixturePath('itm'), itmDir);
  await convertCheckpoint(fixturePath('opt'), captionDir);
  local = await LocalRetrievalEncoder.load(itmDir);
  host = new InferenceHost({ transport: forkTransport(), backoffMs: 50 });
  host.on('restart', (e) => restarts.push(e));
  await host.start();
});

after(async () => {
  await host?.shutdown();
  await local?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('retrieval in the inference worker', { timeout: 120_000 }, () => {
  it('answers model_missing before a retrieval model is loaded, and refuses a captioning folder', async () => {
    const image = fixturePath(`images/${IMAGES[0]}`);
    await assert.rejects(host.embedTexts(TEXTS), hasCode('model_missing', /retrieval/, /loadRetrieval/));
    await assert.rejects(host.embedImage(image), hasCode('model_missing', /retrieval/));
    await assert.rejects(host.itm(image, TEXTS), hasCode('model_missing', /retrieval/));
    await assert.rejects(host.analyze(image, { embed: true }), hasCode('model_missing', /retrieval/));
    await assert.rejects(host.analyze(image, { caption: {} }), hasCode('model_missing', /captioning/));
    await assert.rejects(host.loadRetrieval(captionDir), hasCode('model_invalid', /blip2-opt/));
    await assert.rejects(host.loadRetrieval(join(dir, 'nowhere')), hasCode('model_missing'));
  });

  it('loads the retrieval model and describes it', async () => {
    const info = await host.loadRetrieval(itmDir, { threads: 1 });
    const m = await readManifest(itmDir);
    assert.deepEqual(info, {
      dir: itmDir, modelId: retrievalModelId(itmDir, 'fp32', m.createdAt), weights: 'fp32', queries: m.shapes.queries, embedDim: 16, sharedVision: false,
    });
    assert.equal(info.modelId, local.modelId);
  });

  it(`text vectors, image vectors and ITM probabilities match Hugging Face within ${TOL}`, async () => {
    const texts = await host.embedTexts(TEXTS);
    assert.equal(texts.length, TEXTS.length);
    within('itc_text_embeds', texts.flatMap((t) => [...t]), readF32(golden.itc_text_embeds.file));
    for (const c of golden.per_image) {
      const i = IMAGES.indexOf(c.image);
      const image = fixturePath(`images/${c.image}`);
      within(`itc_image_embeds ${c.image}`, await host.embedImage(image), readF32(c.itc_image_embeds.file));
      const probs = await host.itm(image, TEXTS);
      within(`itm ${c.image}`, probs, golden.itm.rows_images_cols_texts[i].map((r: { prob_match: number }) => r.prob_match));
    }
  });

  it('is interchangeable with the in-process encoder through HostRetrievalEncoder', async () => {
    const info = await host.loadRetrieval(itmDir);
    const remote: RetrievalEncoder = host.retrievalEncoder(info);
    assert.ok(remote instanceof HostRetrievalEncoder);
    assert.deepEqual([remote.modelId, remote.queries, remote.embedDim], [local.modelId, local.queries, local.embedDim]);
    const image = fixturePath('images/chelsea_451x300.png');
    const texts = ['a cat on a sofa', 'Two RED cars, parked.', 'x'.repeat(5000)];
    const [a, b] = [await remote.embedTexts(texts), await local.embedTexts(texts)];
    a.forEach((v, i) => within(`text ${i}`, v, b[i], 1e-6));
    within('image', await remote.embedImage(image), await local.embedImage(image), 1e-6);
    within('itm', await remote.itm(image, texts), await local.itm(image, texts), 1e-6);
    await remote.dispose(); // releases nothing: the host keeps serving
    assert.equal((await host.embedTexts(['still here'])).length, 1);
  });

  it('embeds more texts than one message carries, and none', async () => {
    const many = Array.from({ length: 2100 }, (_, i) => `photo number ${i % 50}`);
    const out = await host.embedTexts(many);
    assert.equal(out.length, many.length);
    assert.deepEqual(out[2050], out[0]);
    assert.ok(out.every((v) => v.length === 16 && Math.abs(Math.hypot(...v) - 1) < 1e-5));
    assert.deepEqual(await host.embedTexts([]), []);
  });

  it('refuses empty and oversized texts as invalid_argument, and cancels', async () => {
    const image = fixturePath('images/chelsea_451x300.png');
    await assert.rejects(host.embedTexts(['a dog', '   ']), hasCode('invalid_argument', /text 2 is empty/));
    await assert.rejects(host.itm(image, ['']), hasCode('invalid_argument', /empty/));
    await assert.rejects(host.embedTexts(['x'.repeat(10_001)]), hasCode('invalid_argument'));
    await assert.rejects(host.embedTexts(TEXTS, { signal: AbortSignal.abort() }), hasCode('cancelled'));
    await assert.rejects(host.embedImage(join(dir, 'missing.png')), hasCode('photo_unreadable', /missing\.png/));
  });

  it('after the worker is killed, the host restarts it and reloads both models', async () => {
    await host.load(captionDir, { threads: 1 });
    const info = await host.loadRetrieval(itmDir, { threads: 1 });
    const image = fixturePath('images/gradient_320x200.png');
    const before = { texts: await host.embedTexts(TEXTS), image: await host.embedImage(image), caption: await host.caption(image, { maxNewTokens: 6 }) };
    const pid = host.pid!;
    const exited = new Promise<void>((resolve) => { const off = host.on('exit', () => { off(); resolve(); }); });
    process.kill(pid, 'SIGKILL');
    await exited; // a request sent before the host sees the exit would fail with the dying worker
    const texts = await host.embedTexts(TEXTS); // waits for the restart and both reloads
    assert.ok(host.pid && host.pid !== pid);
    assert.equal(restarts.length, 1);
    texts.forEach((v, i) => assert.deepEqual(v, before.texts[i]));
    assert.deepEqual(await host.embedImage(image), before.image);
    within('itm after the restart', await host.itm(image, TEXTS), await local.itm(image, TEXTS), 1e-6);
    assert.deepEqual((await host.caption(image, { maxNewTokens: 6 })).tokenIds, before.caption.tokenIds);

    // Different vision weights (the fixtures' are random): analyze runs both encoders on one decode.
    assert.equal(info.sharedVision, false);
    const chelsea = fixturePath('images/chelsea_451x300.png');
    const r = await host.analyze(chelsea, { caption: { maxNewTokens: 6 }, embed: true });
    assert.equal(r.visionPasses, 2);
    within('analyze features', r.features!, await local.embedImage(chelsea), 1e-6);
    assert.deepEqual(r.caption?.tokenIds, (await host.caption(chelsea, { maxNewTokens: 6 })).tokenIds);
  });
});
