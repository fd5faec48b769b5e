// The one per-photo pipeline (PhotoIndexer) with real parts: the inference worker process running the
// tiny captioning and retrieval fixture models, the SQLite catalog, real photos and XMP sidecars.
// What the review found the old copies disagreeing on is pinned here: a photo captioned meanwhile is
// skipped, caption + tags + vectors commit with the job in one transaction (nothing when the job was
// finished elsewhere), and the caption records the model's conversion time.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostRetrievalEncoder } from '../../src/jobs/host-retrieval-encoder.ts';
import { InferenceHost } from '../../src/jobs/inference-host.ts';
import type { ModelInfo } from '../../src/jobs/protocol.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import type { PhotoInference } from '../../src/library/indexer/inference-client.ts';
import { type IndexStep, PhotoIndexer, type SearchSetup } from '../../src/library/indexer/photo-indexer.ts';
import { Library } from '../../src/library/library.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { PhotoAnalysis } from '../../src/library/photo-analysis.ts';
import { readSidecar } from '../../src/library/xmp/index.ts';
import { tinyModel } from '../e2e/fixture-models.ts';
import { PHOTOS, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
let host: InferenceHost;
let model: ModelInfo;
let encoder: HostRetrievalEncoder;
let n = 0;

before(async () => {
  dir = await makeTempDir();
  host = new InferenceHost();
  await host.start();
  model = await host.load(await tinyModel('opt'), { threads: 1 });
  encoder = new HostRetrievalEncoder(host, await host.loadRetrieval(await tinyModel('itm'), { threads: 1 }));
});
after(async () => {
  await host?.shutdown();
});

/** A fresh library over copies of real photos (plus `extra` files), scanned. */
async function library(files = ['chelsea.jpg', 'coffee.jpg', 'rocket.jpg'], extra: Record<string, Buffer> = {}): Promise<{ lib: Library; folder: string }> {
  const base = join(dir, `t${++n}`);
  const folder = join(base, 'photos');
  await mkdir(folder, { recursive: true });
  for (const f of files) await cp(join(PHOTOS, f), join(folder, f));
  for (const [name, text] of Object.entries(extra)) await writeFile(join(folder, name), text);
  const lib = Library.open(join(base, 'catalog.db'));
  lib.addFolder(folder);
  await lib.scanAll();
  return { lib, folder };
}

function indexer(lib: Library, o: { search?: SearchSetup; inference?: PhotoInference; caption?: boolean; lowMemory?: boolean } = {}): PhotoIndexer {
  const metadata = new MetadataSync(lib.catalog, { xmp: 'sidecar', sidecarNaming: 'ext' });
  return new PhotoIndexer({
    catalog: lib.catalog,
    inference: () => o.inference ?? host,
    caption: () => (o.caption === false ? undefined : { modelId: model.label, convertedAt: model.createdAt, options: { maxNewTokens: 5 }, lowMemory: o.lowMemory }),
    search: () => o.search,
    writeSidecar: (id) => metadata.write(id),
    workerId: 'test-worker',
  });
}

async function steps(ix: PhotoIndexer, signal?: AbortSignal): Promise<IndexStep[]> {
  const out: IndexStep[] = [];
  await ix.drain(signal, (s) => out.push(s));
  return out;
}

describe('PhotoIndexer', () => {
  it('captions, tags and embeds each photo from one request, commits them with the job, and writes the sidecar', async () => {
    const { lib, folder } = await library();
    const analysis = await PhotoAnalysis.load(lib.catalog, encoder);
    const added: number[] = [];
    const run = await steps(indexer(lib, { search: { analysis, index: { add: (id) => void added.push(id) } } }));
    assert.deepEqual(run.map((s) => [s.task, s.outcome]), [['caption', 'done'], ['caption', 'done'], ['caption', 'done']],
      'vectors came with the captions: no separate analysis pass');
    const ids = lib.catalog.listPhotos().map((p) => p.id);
    assert.deepEqual(added.sort(), [...ids].sort(), 'the live index got every photo');
    for (const id of ids) {
      const c = lib.catalog.currentCaption(id)!;
      assert.equal(c.provenance, 'ai');
      assert.equal(c.modelId, model.label);
      assert.equal((c.settings as { modelConvertedAt?: string }).modelConvertedAt, model.createdAt, 'the caption records the conversion time');
      assert.equal(lib.catalog.hasEmbedding(id, encoder.modelId), true);
      assert.equal(lib.catalog.embedding(id, encoder.modelId)!.length, encoder.queries * encoder.embedDim);
    }
    const side = await readSidecar(join(folder, 'coffee.jpg.xmp'));
    assert.equal(side?.description, lib.catalog.currentCaption(lib.catalog.fileByPath(join(folder, 'coffee.jpg'))!.photoId)!.text);
    assert.deepEqual(lib.catalog.jobs.counts(), { pending: 0, running: 0, done: 3, failed: 0 });
    assert.equal(await indexer(lib, { search: { analysis } }).step(), undefined, 'nothing left');
    lib.close();
  });

  it('skips a photo captioned meanwhile (by the user) without calling the model', async () => {
    const { lib } = await library(['coffee.jpg']);
    const id = lib.catalog.listPhotos()[0].id;
    // The scan queued the photo; the user typed a caption before the worker got to it.
    assert.equal(lib.catalog.jobs.counts().pending, 1);
    // Later than the job by the clock's millisecond resolution (in the same millisecond nothing says which came first).
    await new Promise((r) => setTimeout(r, 5));
    lib.catalog.setUserCaption(id, 'my coffee, my words');
    let calls = 0;
    const counting: PhotoInference = {
      caption: (...a) => { calls++; return host.caption(...a); },
      analyze: (...a) => { calls++; return host.analyze(...a) as never; },
      embedImage: (...a) => { calls++; return host.embedImage(...a); },
    };
    const run = await steps(indexer(lib, { inference: counting }));
    assert.deepEqual(run.map((s) => s.outcome), ['skipped']);
    assert.equal(calls, 0);
    assert.equal(lib.catalog.currentCaption(id)!.text, 'my coffee, my words');
    assert.equal(lib.catalog.captionHistory(id).length, 1);
    // Asking for an AI caption again (a job queued on purpose over the caption) does run, and the
    // user's words stay current.
    lib.catalog.jobs.enqueue(id, 'caption', { force: true });
    assert.deepEqual((await steps(indexer(lib))).map((s) => s.outcome), ['done']);
    assert.equal(lib.catalog.currentCaption(id)!.text, 'my coffee, my words');
    assert.deepEqual(lib.catalog.captionHistory(id).map((c) => c.provenance).sort(), ['ai', 'user']);
    lib.close();
  });

  it('stores nothing (caption, tags or vectors) when another process finished the job meanwhile', async () => {
    const { lib } = await library(['rocket.jpg']);
    const analysis = await PhotoAnalysis.load(lib.catalog, encoder);
    const id = lib.catalog.listPhotos()[0].id;
    // While our request runs, another process (its own connection) takes the job over after a
    // recovery and completes it with its caption.
    const other = Catalog.open(lib.catalog.file);
    const racing: PhotoInference = {
      caption: host.caption.bind(host),
      embedImage: host.embedImage.bind(host),
      analyze: async (path, req, call) => {
        const r = await host.analyze(path, req, call);
        other.jobs.recoverInterrupted();
        const job = other.jobs.claimNext('other-process')!;
        assert.equal(other.jobs.complete(job.id, () => void other.addAiCaption(id, { text: 'written by the other process', modelId: 'm' })), true);
        return r;
      },
    };
    const ix = indexer(lib, { inference: racing, search: { analysis } });
    const step = await ix.step();
    other.close();
    assert.deepEqual([step?.task, step?.outcome], ['caption', 'skipped']);
    assert.deepEqual(lib.catalog.captionHistory(id).map((c) => c.text), ['written by the other process']);
    assert.equal(lib.catalog.hasEmbedding(id, encoder.modelId), false, 'no vectors outside the job that applied');
    assert.equal(lib.catalog.tagsOf(id).length, 0, 'no tags either');
    // The photo still lacks vectors, so the backfill gives it its own, with tags, in one transaction.
    assert.deepEqual(await ix.step().then((s) => [s?.task, s?.outcome]), ['analyze', 'done']);
    assert.equal(lib.catalog.hasEmbedding(id, encoder.modelId), true);
    lib.close();
  });

  it('backfills vectors and tags of photos captioned before search was set up, then recalibrates', async () => {
    const { lib, folder } = await library();
    await steps(indexer(lib));
    const ids = lib.catalog.listPhotos().map((p) => p.id);
    assert.equal(ids.every((id) => !lib.catalog.hasEmbedding(id, encoder.modelId)), true);
    const analysis = await PhotoAnalysis.load(lib.catalog, encoder);
    const run = await steps(indexer(lib, { search: { analysis }, caption: false }));
    assert.deepEqual(run.map((s) => [s.task, s.outcome]), [['analyze', 'done'], ['analyze', 'done'], ['analyze', 'done']]);
    assert.equal(lib.catalog.embeddingCount(encoder.modelId), 3);
    // The first full library calibrates the tag thresholds on its own vectors.
    assert.ok(analysis.tagger.calibration, 'calibrated once the backlog was done');
    assert.ok(existsSync(join(folder, 'chelsea.jpg.xmp')));
    lib.close();
  });

  it('an unreadable photo fails for good once, is reported by name, and the others are still done', async () => {
    const { lib, folder } = await library(['coffee.jpg'], { 'broken.jpg': readFileSync(join(PHOTOS, 'rocket.jpg')).subarray(0, 4000) });
    const analysis = await PhotoAnalysis.load(lib.catalog, encoder);
    const ix = indexer(lib, { search: { analysis } });
    const run = await steps(ix);
    const failed = run.filter((s) => s.outcome === 'failed');
    assert.equal(failed.length, 2, 'its caption job, then its vectors: each once in this run');
    for (const f of failed) {
      assert.equal(f.outcome === 'failed' && f.error.code, 'photo_unreadable');
      assert.equal(f.outcome === 'failed' && f.final, true);
      assert.equal(f.path, join(folder, 'broken.jpg'));
    }
    assert.equal(run.filter((s) => s.outcome === 'done').length, 1);
    assert.equal(await ix.step(), undefined, 'not offered again in this run');
    ix.retryFailed();
    assert.equal((await ix.step())?.outcome, 'failed', 'offered again after retryFailed');
    lib.close();
  });

  it('a cancelled photo goes back to the queue without using an attempt', async () => {
    const { lib } = await library(['chelsea.jpg']);
    const abort = new AbortController();
    const ix = indexer(lib);
    const step = await ix.step(abort.signal, () => abort.abort());
    assert.equal(step?.outcome, 'cancelled');
    const [job] = [lib.catalog.jobs.job(1)!];
    assert.deepEqual([job.state, job.attempts], ['pending', 0]);
    assert.equal((await ix.step())?.outcome, 'done');
    lib.close();
  });

  it('with both halves open nothing is looked up or sent for prefetching', async () => {
    const { lib } = await library(['chelsea.jpg', 'coffee.jpg']);
    const prefetch: unknown[] = [];
    const spy: PhotoInference = {
      caption: (path, options, call) => { prefetch.push(call?.prefetch); return host.caption(path, options, call); },
      analyze: (path, opts, call) => { prefetch.push(call?.prefetch); return host.analyze(path, opts, call) as never; },
      embedImage: (path, call) => host.embedImage(path, call),
    };
    assert.deepEqual((await steps(indexer(lib, { inference: spy }))).map((s) => s.outcome), ['done', 'done']);
    assert.deepEqual(prefetch, [undefined, undefined]);
    lib.close();
  });

  it('a low-memory worker encodes the queued photos ahead when it opens its image half; captions as with both halves open', async () => {
    const low = new InferenceHost();
    await low.start();
    try {
      const info = await low.load(await tinyModel('opt'), { threads: 1, lowMemory: true });
      assert.equal(info.lowMemory, true);
      const lowEncoder = new HostRetrievalEncoder(low, await low.loadRetrieval(await tinyModel('itm'), { threads: 1 }));
      // What the indexer asks of the real worker, and what the worker says it did.
      // The worker is given only the first queued path of each list: with four photos that shows a
      // window moving by one per request (as the real one does past 15 photos) switching halves
      // once per two photos, never twice per photo.
      const seen: { path: string; prefetch: readonly string[]; visionPasses: number }[] = [];
      const spy: PhotoInference = {
        caption: (path, options, call) => low.caption(path, options, call),
        embedImage: (path, call) => low.embedImage(path, call),
        analyze: async (path, opts, call) => {
          const r = await low.analyze(path, opts, { ...call, prefetch: call?.prefetch?.slice(0, 1) });
          seen.push({ path, prefetch: call?.prefetch ?? [], visionPasses: r.visionPasses });
          return r;
        },
      };
      const { lib, folder } = await library(['chelsea.jpg', 'coffee.jpg', 'rocket.jpg', 'astronaut.jpg']);
      const analysis = await PhotoAnalysis.load(lib.catalog, lowEncoder);
      const run = await steps(indexer(lib, { search: { analysis }, inference: spy, lowMemory: info.lowMemory }));
      assert.deepEqual(run.map((s) => s.outcome), ['done', 'done', 'done', 'done']);
      const paths = seen.map((x) => x.path);
      assert.deepEqual(seen[0].prefetch, paths.slice(1), 'the first request names the queued photos');
      const passes = seen.map((x) => x.visionPasses);
      assert.ok(passes[0] >= 1 && passes[2] === passes[0], `vision passes ${passes}`);
      assert.deepEqual([passes[1], passes[3]], [0, 0], 'encoded with the photo before, while its image half was open');
      // The same captions as the worker with both halves open.
      for (const path of paths) {
        const id = lib.catalog.fileByPath(path)!.photoId;
        assert.equal(lib.catalog.currentCaption(id)!.text, (await host.caption(path, { maxNewTokens: 5 })).text, path);
        assert.equal(lib.catalog.hasEmbedding(id, lowEncoder.modelId), true);
      }
      assert.ok(existsSync(join(folder, 'rocket.jpg.xmp')));
      lib.close();
      // Replacing the model releases the old one first; a replacement that fails brings it back.
      await assert.rejects(low.load(join(dir, 'no-such-model'), { lowMemory: true }), (e: Error) => /no-such-model/.test(e.message));
      assert.equal((await low.caption(paths[0], { maxNewTokens: 5 })).text, (await host.caption(paths[0], { maxNewTokens: 5 })).text);
    } finally {
      await low.shutdown();
    }
  });
});
