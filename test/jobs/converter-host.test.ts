// Checkpoint conversion in a real converter child process (tsx-loaded convert-worker-main.ts) driven
// by convertInChild: progress and a complete model folder while this process's event loop keeps
// ticking, cancel mid-way (no model folder, no temp folder), a forced kill whose temp folder the next
// conversion removes, a crash and a truncated checkpoint reported by name, garbage on the channel.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ConvertInChildOptions, convertInChild, forkConvertTransport } from '../../src/jobs/converter-host.ts';
import type { HostMessage } from '../../src/jobs/protocol.ts';
import type { Transport, TransportFactory } from '../../src/jobs/transport.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { watchEventLoop } from '../helpers/tools.ts';

const CHECKPOINT = fixturePath('opt');

let dir: string;
const fork = forkConvertTransport();
/** Every child started, so a test can reach its pid or its raw channel. */
const children: Transport[] = [];
const factory: TransportFactory = () => {
  const t = fork();
  children.push(t);
  return t;
};

const convert = (outDir: string, opts: ConvertInChildOptions = {}, checkpointDir = CHECKPOINT) =>
  convertInChild(factory, { checkpointDir, outDir, weights: 'fp32' }, opts);

/** Temp folders of conversions into `out` (convert.ts names them .<name>.partial-<pid>-<time>). */
async function partials(out: string): Promise<string[]> {
  const name = out.slice(dir.length + 1);
  return (await readdir(dir)).filter((f) => f.startsWith(`.${name}.partial-`));
}

function alive(pid: number | undefined): boolean {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  dir = await makeTempDir();
});

after(async () => {
  for (const t of children) t.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('convertInChild with a real converter process', { timeout: 120_000 }, () => {
  it('converts in a child with progress events while this event loop keeps ticking', async () => {
    const out = join(dir, 'opt-int8');
    const progress: { stage: string; part?: string }[] = [];
    const loop = watchEventLoop(20);
    let maxGap = 0;
    let r;
    try {
      r = await convertInChild(factory, { checkpointDir: CHECKPOINT, outDir: out, weights: 'int8', blockSize: 32 }, { onProgress: (e) => progress.push(e) });
    } finally {
      maxGap = loop.stop();
    }
    assert.ok(maxGap < 500, `the main loop stalled for ${maxGap} ms`);
    assert.equal(r.dir, out);
    // The builder reads each shard once, front to back ('weights' per shard), then builds the graphs.
    assert.deepEqual(progress, [{ stage: 'weights', part: 'model.safetensors' }, { stage: 'graph' }, { stage: 'done' }]);
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    assert.equal(manifest.quantization.weights, 'int8');
    assert.deepEqual(r.manifest, {
      kind: 'blip2-opt', architecture: 'Blip2ForConditionalGeneration', weights: 'int8',
      files: Object.keys(manifest.files).length,
      bytes: Object.values(manifest.files as Record<string, { bytes: number }>).reduce((s, f) => s + f.bytes, 0),
    });
    const child = children.at(-1)!;
    assert.ok(child.pid && child.pid !== process.pid);
    assert.ok(!alive(child.pid), 'the child is gone once the promise settles');
    assert.deepEqual(await partials(out), []);
  });

  it('cancel mid-way: cancelled, no model folder, the child removed its own temp folder', async () => {
    const out = join(dir, 'cancelled');
    const ac = new AbortController();
    const stages: string[] = [];
    await assert.rejects(
      convert(out, { signal: ac.signal, onProgress: (e) => { stages.push(e.part ?? e.stage); if (e.stage === 'weights') ac.abort(); } }),
      (err: unknown) => (err as { code?: string }).code === 'cancelled',
    );
    assert.ok(!stages.includes('done'), `stopped mid-way: ${stages.join(', ')}`);
    assert.ok(!existsSync(out), 'no model folder');
    assert.deepEqual(await partials(out), [], 'no temp folder');
    assert.ok(!alive(children.at(-1)!.pid));
    // Already aborted: no child is started at all.
    const started = children.length;
    await assert.rejects(convert(out, { signal: AbortSignal.abort() }), (err: unknown) => (err as { code?: string }).code === 'cancelled');
    assert.equal(children.length, started);
  });

  it('a child killed without time to clean up leaves a temp folder that the next conversion removes', async () => {
    const out = join(dir, 'forced');
    const ac = new AbortController();
    // killTimeoutMs 0: SIGKILL right behind the cancel, as for a child stuck in a long synchronous read.
    await assert.rejects(
      convert(out, { signal: ac.signal, killTimeoutMs: 0, onProgress: (e) => { if (e.stage === 'weights') ac.abort(); } }),
      (err: unknown) => (err as { code?: string }).code === 'cancelled',
    );
    assert.ok(!existsSync(out));
    const r = await convert(out);
    assert.ok(existsSync(join(r.dir, 'model.json')));
    assert.deepEqual(await partials(out), [], 'no stale temp folder after the next conversion');
  });

  it('a crashed child fails the conversion naming the checkpoint; the next run cleans up after it', async () => {
    const out = join(dir, 'crashed');
    await assert.rejects(
      convert(out, { onProgress: (e) => { if (e.stage === 'graph') process.kill(children.at(-1)!.pid!, 'SIGKILL'); } }),
      (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'inference_failed');
        assert.match((err as Error).message, /SIGKILL/);
        assert.ok((err as Error).message.includes(CHECKPOINT), String(err));
        return true;
      },
    );
    assert.ok(!existsSync(out));
    assert.equal((await partials(out)).length, 1, 'a SIGKILLed child cannot clean up');
    await convert(out);
    assert.deepEqual(await partials(out), []);
  });

  it('a truncated checkpoint fails with checkpoint_invalid naming model.safetensors', async () => {
    const ck = join(dir, 'truncated-checkpoint');
    await cp(CHECKPOINT, ck, { recursive: true });
    const weights = join(ck, 'model.safetensors');
    await truncate(weights, Math.floor((await stat(weights)).size / 2));
    const out = join(dir, 'from-truncated');
    await assert.rejects(convert(out, {}, ck), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'checkpoint_invalid');
      assert.ok((err as { file?: string }).file === weights && (err as Error).message.includes(weights), String(err));
      assert.match((err as Error).message, /truncated/);
      return true;
    });
    assert.ok(!existsSync(out));
    assert.deepEqual(await partials(out), []);
  });

  it('an invalid request is answered as data, and the child is not left running', async () => {
    // A transport that mangles the request the host sends: the child answers invalid_argument.
    const mangling: TransportFactory = () => {
      const t = factory();
      return { ...t, get pid() { return t.pid; }, send: (m: HostMessage) => t.send({ ...m, weights: 'int3' } as unknown as HostMessage) };
    };
    await assert.rejects(
      convertInChild(mangling, { checkpointDir: CHECKPOINT, outDir: join(dir, 'never'), weights: 'fp32' }, { killTimeoutMs: 200 }),
      (err: unknown) => (err as { code?: string }).code === 'invalid_argument' && /weights/.test((err as Error).message),
    );
    assert.ok(!alive(children.at(-1)!.pid));
    assert.ok(!existsSync(join(dir, 'never')));
  });
});
