// The inference worker as a real child process (tsx-loaded worker-main.ts) driven by InferenceHost:
// results equal the in-process model, streaming, cancellation, errors as data, garbage on the
// channel, crash recovery after SIGKILL, and a shutdown that leaves no process behind. The restart
// bound and wait-then-kill use a fake transport, since real crash loops would make the suite slow.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { InferenceHost, type InferenceHostEvents } from '../../src/jobs/inference-host.ts';
import type { HostMessage } from '../../src/jobs/protocol.ts';
import { type Transport, type WorkerExit, forkTransport } from '../../src/jobs/transport.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';

const CHELSEA = fixturePath('images/chelsea_451x300.png');
const GRADIENT = fixturePath('images/gradient_320x200.png');
/** Long enough that a cancel or a kill lands mid-generation (eos is masked until then). */
const LONG = { maxNewTokens: 300, minNewTokens: 300 };

let dir: string;
let modelDir: string;
let model: Blip2Model;
let host: InferenceHost;
const transports: Transport[] = [];
const events: { [K in keyof InferenceHostEvents]: InferenceHostEvents[K][] } = { exit: [], restart: [], log: [], unmatched: [] };

function hasCode(code: string, ...patterns: RegExp[]) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got ${String(err)}`);
    for (const p of patterns) assert.match((err as Error).message, p);
    return true;
  };
}

async function reference(image: string, opts: Parameters<Blip2Model['caption']>[1] = {}) {
  return model.caption(await model.encodeImage(image), opts);
}

before(async () => {
  dir = await makeTempDir();
  modelDir = join(dir, 'model');
  await convertCheckpoint(fixturePath('opt'), modelDir);
  model = await Blip2Model.load(modelDir);
  const fork = forkTransport();
  // Keeping each transport lets a test write raw (invalid) messages onto the real channel.
  host = new InferenceHost({ transport: () => { const t = fork(); transports.push(t); return t; }, backoffMs: 50 });
  for (const k of Object.keys(events) as (keyof InferenceHostEvents)[]) host.on(k, (e) => void (events[k] as unknown[]).push(e));
  await host.start();
});

after(async () => {
  await host?.shutdown();
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('InferenceHost with a real worker process', { timeout: 120_000 }, () => {
  it('starts a worker, logs pid-prefixed, and loads the model', async () => {
    assert.ok(host.pid && host.pid !== process.pid);
    const info = await host.load(modelDir, { threads: 1 });
    assert.equal(info.kind, 'blip2-opt');
    assert.equal(info.dir, modelDir);
    assert.equal(info.hasTokenizer, true);
    assert.ok(events.log.some((l) => l.message.startsWith(`[inference-worker ${host.pid}]`)));
  });

  it('captions exactly like the in-process model', async () => {
    for (const image of [CHELSEA, GRADIENT]) {
      const ours = await host.caption(image, { maxNewTokens: 8 });
      const ref = await reference(image, { maxNewTokens: 8 });
      assert.deepEqual(ours.tokenIds, ref.tokenIds);
      assert.equal(ours.text, ref.text);
      assert.equal(ours.endedWithEos, ref.endedWithEos);
    }
    const prompted = await host.caption(CHELSEA, { prompt: 'a photo of', maxNewTokens: 6, numBeams: 2 });
    const ref = await reference(CHELSEA, { prompt: 'a photo of', maxNewTokens: 6, numBeams: 2 });
    assert.deepEqual(prompted.tokenIds, ref.tokenIds);
    assert.equal(prompted.score, ref.score);
  });

  it('streams the tokens of an answer, and uses the chat prompt when there is history', async () => {
    const tokens: { tokenId: number; text: string }[] = [];
    const r = await host.ask(CHELSEA, 'what is in the picture?', { maxNewTokens: 10 }, { onToken: (t) => tokens.push(t) });
    assert.ok(r.tokenIds.length > 0);
    assert.deepEqual(tokens.map((t) => t.tokenId), r.tokenIds);
    assert.equal(tokens.at(-1)!.text, r.text);
    const enc = await model.encodeImage(CHELSEA);
    assert.deepEqual(r.tokenIds, (await model.ask(enc, 'what is in the picture?', { maxNewTokens: 10 })).tokenIds);

    const history = [{ question: 'what is in the picture?', answer: r.text }];
    const follow = await host.ask(CHELSEA, 'what colour is it?', { history, maxNewTokens: 10 });
    assert.deepEqual(follow.tokenIds, (await model.chat(enc, history, 'what colour is it?', { maxNewTokens: 10 })).tokenIds);
  });

  it('cancels mid-generation and stays usable', async () => {
    const controller = new AbortController();
    let seen = 0;
    const pid = host.pid;
    await assert.rejects(
      host.ask(CHELSEA, 'describe it', LONG, { signal: controller.signal, onToken: () => { if (++seen === 1) controller.abort(); } }),
      hasCode('cancelled'),
    );
    assert.ok(seen >= 1 && seen < LONG.maxNewTokens, `generated ${seen} tokens before the cancel took effect`);
    await assert.rejects(host.caption(CHELSEA, {}, { signal: AbortSignal.abort() }), hasCode('cancelled'));
    // A throwing onToken fails its own request with that error, not the process.
    await assert.rejects(host.caption(CHELSEA, LONG, { onToken: () => { throw new Error('listener bug'); } }), /listener bug/);
    const r = await host.caption(CHELSEA, { maxNewTokens: 8 });
    assert.deepEqual(r.tokenIds, (await reference(CHELSEA, { maxNewTokens: 8 })).tokenIds);
    assert.equal(host.pid, pid);
  });

  it('reports an unreadable photo as photo_unreadable naming the file', async () => {
    const bad = join(dir, 'corrupt.jpg');
    await writeFile(bad, Buffer.from('this is not a jpeg at all, just text'));
    await assert.rejects(host.caption(bad, { maxNewTokens: 4 }), (err: unknown) => {
      hasCode('photo_unreadable')(err);
      assert.ok((err as { file?: string }).file === bad || (err as Error).message.includes(bad), String(err));
      return true;
    });
    await assert.rejects(host.caption(join(dir, 'missing.png')), hasCode('photo_unreadable', /missing\.png/));
    await assert.rejects(host.caption(CHELSEA, { maxNewTokens: -1 }), hasCode('invalid_argument'));
  });

  it('answers garbage on the channel with invalid_argument errors and keeps running', async () => {
    const pid = host.pid;
    const before = events.unmatched.length;
    const garbage: unknown[] = [
      'hello', 42, { nonsense: true }, { type: 'bogus', id: 'g1' }, { type: 'caption', id: 'g2', imagePath: 5 },
      { type: 'caption', id: 'g3', imagePath: CHELSEA, options: { max_new_tokens: 3 } }, { type: 'load', id: 'g4' },
    ];
    for (const g of garbage) transports.at(-1)!.send(g as HostMessage);
    const r = await host.caption(CHELSEA, { maxNewTokens: 8 }); // answered after the garbage: the worker processes in order
    assert.deepEqual(r.tokenIds, (await reference(CHELSEA, { maxNewTokens: 8 })).tokenIds);
    const errors = events.unmatched.slice(before);
    assert.equal(errors.length, garbage.length);
    assert.ok(errors.every((e) => e.error.code === 'invalid_argument'), JSON.stringify(errors));
    assert.deepEqual(errors.map((e) => e.id), [null, null, null, 'g1', 'g2', 'g3', 'g4']);
    assert.match(errors[5].error.message, /max_new_tokens/);
    assert.equal(host.pid, pid);
  });

  it('fails the in-flight request when the worker is killed, restarts it and reloads the model', async () => {
    const pid = host.pid!;
    const exitsBefore = events.exit.length;
    let killed = false;
    await assert.rejects(
      host.caption(CHELSEA, LONG, { onToken: () => { if (!killed) { killed = true; process.kill(pid, 'SIGKILL'); } } }),
      hasCode('inference_failed', /crash/, /SIGKILL/),
    );
    const exit = events.exit[exitsBefore];
    assert.equal(exit.reason, 'crash');
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.pid, pid);

    const r = await host.caption(CHELSEA, { maxNewTokens: 8 });
    assert.deepEqual(r.tokenIds, (await reference(CHELSEA, { maxNewTokens: 8 })).tokenIds);
    assert.ok(host.pid && host.pid !== pid);
    assert.deepEqual(events.restart, [{ attempt: 1 }]);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });

  it('whenReady settles once a SIGKILLed worker is restarted and its model reloaded', async () => {
    await host.whenReady();
    const pid = host.pid!;
    const restarts = events.restart.length;
    const exited = new Promise<void>((resolve) => { const off = host.on('exit', () => { off(); resolve(); }); });
    process.kill(pid, 'SIGKILL');
    await exited;
    await host.whenReady();
    const restarted = host.pid!;
    assert.ok(restarted && restarted !== pid);
    assert.equal(events.restart.length, restarts + 1);
    assert.ok(events.log.some((l) => l.message.startsWith(`[inference-worker ${restarted}] load `)), 'the model was reloaded first');
    const r = await host.caption(CHELSEA, { maxNewTokens: 8 });
    assert.deepEqual(r.tokenIds, (await reference(CHELSEA, { maxNewTokens: 8 })).tokenIds);
    assert.equal(host.pid, restarted);
  });

  it('shuts down cleanly, leaving no process, and can start again', async () => {
    const pid = host.pid!;
    await host.shutdown();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    assert.equal(events.exit.at(-1)!.reason, 'shutdown');
    assert.equal(host.pid, undefined);
    await assert.rejects(host.caption(CHELSEA), hasCode('inference_failed', /shut down/));

    await host.start();
    // A fresh worker has no model: the request is answered with an error, not a hang.
    await assert.rejects(host.caption(CHELSEA), hasCode('model_missing'));
    const second = host.pid!;
    await host.shutdown();
    assert.throws(() => process.kill(second, 0), { code: 'ESRCH' });
  });
});

/** A worker that answers instantly; crash() and a deaf shutdown stand in for a misbehaving process. */
class FakeWorker implements Transport {
  static nextPid = 900_000;
  readonly pid = FakeWorker.nextPid++;
  readonly sent: HostMessage[] = [];
  private readonly messageListeners: ((m: unknown) => void)[] = [];
  private readonly exitListeners: ((e: WorkerExit) => void)[] = [];
  private gone = false;

  constructor(private readonly deafToShutdown = false) {
    setImmediate(() => this.reply({ type: 'ready', pid: this.pid }));
  }
  send(m: HostMessage): boolean {
    if (this.gone) return false;
    this.sent.push(m);
    const info = { dir: 'x', kind: 'blip2-opt', architecture: 'x', weights: 'fp32', imageSize: 224, queries: 8, hasTokenizer: true, createdAt: '', label: 'x:fp32' };
    if (m.type === 'load') this.reply({ type: 'result', id: m.id, value: info });
    if (m.type === 'caption') this.reply({ type: 'result', id: m.id, value: { text: 'a cat', tokenIds: [1, 2], endedWithEos: true } });
    if (m.type === 'shutdown' && !this.deafToShutdown) setImmediate(() => this.exit({ code: 0, signal: null }));
    return true;
  }
  onMessage(l: (m: unknown) => void): void { this.messageListeners.push(l); }
  onExit(l: (e: WorkerExit) => void): void { this.exitListeners.push(l); }
  kill(signal: NodeJS.Signals = 'SIGTERM'): void { setImmediate(() => this.exit({ code: null, signal })); }
  crash(): void { this.exit({ code: null, signal: 'SIGSEGV' }); }
  private reply(m: unknown): void { setImmediate(() => { if (!this.gone) for (const l of this.messageListeners) l(m); }); }
  private exit(e: WorkerExit): void {
    if (this.gone) return;
    this.gone = true;
    for (const l of this.exitListeners) l(e);
  }
}

describe('InferenceHost restart policy and shutdown (fake transport)', () => {
  it('restarts at most maxRestarts times per window, reloading the model each time, then gives up', async () => {
    const fakes: FakeWorker[] = [];
    const h = new InferenceHost({ transport: () => { const f = new FakeWorker(); fakes.push(f); return f; }, maxRestarts: 2, backoffMs: 1 });
    const restarts: number[] = [];
    h.on('restart', (e) => restarts.push(e.attempt));
    await h.start();
    await h.load('/models/tiny', { threads: 2 });
    for (let i = 0; i < 2; i++) {
      fakes.at(-1)!.crash();
      assert.equal((await h.caption('p.jpg')).text, 'a cat'); // waits for the restart and the reload
      assert.deepEqual(fakes.at(-1)!.sent[0], { type: 'load', id: (fakes.at(-1)!.sent[0] as { id: string }).id, modelDir: '/models/tiny', settings: { threads: 2 } });
    }
    fakes.at(-1)!.crash();
    await assert.rejects(h.caption('p.jpg'), hasCode('inference_failed', /not restarted/));
    assert.deepEqual(restarts, [1, 2]);
    assert.equal(fakes.length, 3);
    await h.shutdown();
  });

  it('whenReady waits through a restart and its reload; rejects when not started, given up or shut down', async () => {
    const fakes: FakeWorker[] = [];
    const h = new InferenceHost({ transport: () => { const f = new FakeWorker(); fakes.push(f); return f; }, maxRestarts: 1, backoffMs: 1 });
    await assert.rejects(h.whenReady(), hasCode('inference_failed', /not started/));
    await h.start();
    await h.whenReady();
    await h.load('/models/tiny');
    fakes[0].crash();
    await h.whenReady();
    assert.equal(fakes.length, 2);
    assert.equal(fakes[1].sent[0]?.type, 'load', 'the reload was answered before whenReady settled');
    fakes[1].crash();
    await assert.rejects(h.whenReady(), hasCode('inference_failed', /not restarted/));
    await h.shutdown();
    await assert.rejects(h.whenReady(), hasCode('inference_failed', /shut down/));

    // A shutdown during the restart's backoff settles a waiting whenReady too.
    const slow = new InferenceHost({ transport: () => { const f = new FakeWorker(); fakes.push(f); return f; }, backoffMs: 60_000 });
    await slow.start();
    fakes.at(-1)!.crash();
    const waiting = slow.whenReady();
    await slow.shutdown();
    await assert.rejects(waiting, hasCode('inference_failed', /shut down/));
  });

  it('kills a worker that ignores shutdown once the wait is over', async () => {
    const h = new InferenceHost({ transport: () => new FakeWorker(true), shutdownTimeoutMs: 30 });
    const exits: InferenceHostEvents['exit'][] = [];
    h.on('exit', (e) => exits.push(e));
    await h.start();
    await h.shutdown();
    assert.equal(exits.length, 1);
    assert.equal(exits[0].reason, 'killed');
    assert.equal(exits[0].signal, 'SIGKILL');
  });
});
