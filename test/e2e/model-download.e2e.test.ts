// From a fresh install to the first caption, in Chromium over the real main-process service: the
// first-run screen downloads BLIP-2 from a loopback Hugging Face Hub emulator (serving the tiny OPT
// fixture checkpoint as Salesforce/blip2-opt-2.7b, throttled so the download takes a few seconds),
// shows its sizes, progress, cancel and resume, and the photos get captioned with the pulled model.
// Checked on the way: nothing contacts the Hub before the user asks; the page cannot reach it (CSP
// connect-src); every request the emulator sees comes from a converter child process, none from a
// browser. Run: node --import tsx --test --test-concurrency=1 test/e2e/model-download.e2e.test.ts
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forkConvertTransport } from '../../src/jobs/converter-host.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import type { PullProgressEvent } from '../../src/shared/app-types.ts';
import { PHOTOS, fixturePath } from '../helpers/fixtures.ts';
import { HubEmulator, type LoggedRequest } from '../helpers/hub-emulator.ts';
import { type RunningApp, startApp } from './harness.ts';

const OPT = 'Salesforce/blip2-opt-2.7b';
const WORK_FOLDER = '.Salesforce--blip2-opt-2.7b-int4.pull';
/** The fixture's 10.6 MB of weights at 2 MB/s: about five seconds, time enough to cancel mid-way. */
const THROTTLE = 2_000_000;

async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 60_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** "3.2 MB of 10.6 MB" → 3.2e6 (decimal units, as shown). */
function shownBytes(text: string): number {
  const m = /^([\d.]+) (MB|GB) of /.exec(text.trim());
  if (!m) return -1;
  return Number(m[1]) * (m[2] === 'GB' ? 1e9 : 1e6);
}

const userAgent = (q: LoggedRequest): string => [q.headers['user-agent'] ?? ''].flat().join(', ');

describe('first run: download BLIP-2 from the Hub, cancel, resume, first caption', () => {
  let hub: HubEmulator;
  let app: RunningApp;
  /** Every converter process the app started (plans and downloads run in them, never in this process). */
  const converterPids: (number | undefined)[] = [];

  before(async () => {
    hub = await HubEmulator.start({ repos: [{ id: OPT, dir: fixturePath('opt') }] });
    hub.faults.throttle(THROTTLE);
    const fork = forkConvertTransport();
    const convertTransport: TransportFactory = () => {
      const t = fork();
      converterPids.push(t.pid);
      return t;
    };
    app = await startApp({ photos: [join(PHOTOS, 'chelsea.jpg')], settings: { hubEndpoint: hub.url }, convertTransport });
  });

  after(async () => {
    const errors = app?.pageErrors.slice() ?? [];
    await app?.close();
    await hub?.close();
    // Nothing failed in the page but the one fetch the test made to prove the CSP blocks it.
    assert.deepEqual(errors.filter((e) => !/Content Security Policy|Failed to fetch|Failed to load resource/.test(e)), []);
  });

  test('the whole way, with the Hub reached only by the converter process', { timeout: 120_000 }, async () => {
    const { page, service } = app;
    const events: PullProgressEvent[] = [];
    service.on('pull:progress', (p) => events.push(p));

    // ── first run: the download is the first choice; nothing has reached the Hub yet ─────────
    await page.getByTestId('first-run').waitFor();
    assert.equal(await page.getByLabel('Download BLIP-2 (recommended)').isChecked(), true);
    const panel = page.getByTestId('model-download');
    await panel.getByText(OPT).waitFor();
    assert.match(await panel.getByTestId('download-privacy').innerText(), /connects to the Hugging Face Hub \(127\.0\.0\.1:\d+\) only for this download.*photos never leave this computer/s);
    // The page cannot reach the Hub itself: its CSP allows connections to its own origin only.
    const fromPage = await page.evaluate(async (url) => {
      try {
        await fetch(url);
        return 'reached';
      } catch {
        return 'blocked';
      }
    }, `${hub.url}/api/models/${OPT}`);
    assert.equal(fromPage, 'blocked');
    await app.screenshot('download-first-run');
    assert.deepEqual(hub.requests.map((q) => q.path), [], 'no request to the Hub before the user asked');

    // ── the plan: sizes from the Hub ─────────────────────────────────────────────────────────
    await panel.getByRole('button', { name: 'Check download size' }).click();
    const plan = page.getByTestId('download-plan');
    await plan.waitFor();
    assert.ok(hub.requests.length > 0, 'the lookup reached the Hub');
    const planText = await plan.innerText();
    assert.match(planText, new RegExp(OPT.replace('.', '\\.')));
    assert.match(planText, /10\.6 MB/, 'the download size (the safetensors shard)');
    assert.match(await page.getByTestId('plan-space').innerText(), /free in/);
    const rows = await plan.locator('tbody tr td').allInnerTexts();
    assert.equal(rows.length, 3, 'download, on disk, RAM');
    assert.ok(rows.every((t) => /\d(\.\d)? (MB|GB)/.test(t)), JSON.stringify(rows));
    await app.screenshot('download-plan');

    // ── start: progress with bytes increasing ────────────────────────────────────────────────
    await page.getByRole('button', { name: 'Start download' }).click();
    const bytes = page.getByTestId('download-bytes');
    const seen: number[] = [];
    await until('the shown bytes to increase twice', async () => {
      const b = shownBytes(await bytes.innerText());
      if (b > 0 && b !== seen.at(-1)) seen.push(b);
      return seen.length >= 3;
    }, 60_000, 50);
    assert.ok(seen.every((b, i) => i === 0 || b > seen[i - 1]), `bytes increase: ${seen.join(', ')}`);
    assert.match(await page.getByTestId('download-stage').innerText(), /Downloading and converting/);
    assert.match(await page.getByTestId('download-rate').innerText(), /MB\/s$/);
    assert.match(await page.getByTestId('download-eta').innerText(), /left|measuring/);
    await app.screenshot('download-progress');

    // ── cancel: stopped, resumable ───────────────────────────────────────────────────────────
    await page.getByRole('button', { name: 'Cancel download' }).click();
    await page.locator('[data-testid="download-progress"][data-status="cancelled"]').waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('download-outcome').innerText(), /Download cancelled/);
    const stoppedAt = events.at(-1);
    assert.equal(stoppedAt?.outcome, 'cancelled');
    assert.ok((stoppedAt?.bytesDone ?? 0) < (stoppedAt?.bytesTotal ?? 0), 'stopped before the end');
    const modelsDir = (await service.listModels()).modelsDir;
    assert.ok((await readdir(modelsDir)).includes(WORK_FOLDER), 'the unfinished download is kept to resume');
    assert.equal((await service.getState()).settings.captionModelDir, null);
    await app.screenshot('download-cancelled');

    // ── resume: carries on and completes; the model is set up ────────────────────────────────
    const requestsBeforeResume = hub.requests.length;
    await page.getByRole('button', { name: 'Resume download' }).click();
    await page.locator('[data-testid="download-progress"][data-status="done"]').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('download-outcome').innerText(), /resumed where it stopped/);
    const done = events.find((e) => e.outcome === 'done');
    assert.equal(done?.resumed, true, 'the second run resumed the first');
    // The resumed stream asked for the shard from where it stopped, not from byte 0.
    const resumedShard = hub.requests.slice(requestsBeforeResume).filter((q) => q.path.endsWith('/model.safetensors'));
    assert.ok(resumedShard.some((q) => /^bytes=[1-9]\d{5,}-$/.test(q.range ?? '')),
      `a Range request from where it stopped: ${JSON.stringify(resumedShard.map((q) => q.range))}`);
    await page.getByTestId('step-model').getByText('Ready', { exact: true }).waitFor({ timeout: 30_000 });
    const state = await service.getState();
    assert.equal(state.settings.captionModelDir, join(modelsDir, 'Salesforce--blip2-opt-2.7b-int4'));
    assert.deepEqual((await readdir(modelsDir)).sort(), ['Salesforce--blip2-opt-2.7b-int4']);
    await app.screenshot('download-done');
    const requestsWhenDone = hub.requests.length;

    // ── photos: the first caption in the grid, made by the pulled model ──────────────────────
    await page.getByLabel('Photo folder', { exact: true }).fill(app.photoDir);
    await page.getByRole('button', { name: 'Add folder' }).click();
    await page.getByTestId('first-run').waitFor({ state: 'detached' });
    await until('the photo captioned', async () => (await page.locator('[data-testid="photo-cell"][data-status="done"]').count()) === 1, 60_000);
    const photos = await service.listPhotos({ filters: {}, sort: 'date-desc', offset: 0, limit: 10 });
    const detail = await service.getPhoto({ photoId: photos.items[0].id });
    assert.match(detail.captionHistory[0]?.modelId ?? '', new RegExp(`^${OPT.replace('.', '\\.')}@[0-9a-f]{7} int4`), 'provenance names the pulled model');
    await app.screenshot('download-first-caption');

    // ── Settings → Models: the pulled model in use, verified from disk; no token set ─────────
    await page.getByRole('button', { name: 'Settings' }).click();
    const library = page.getByTestId('model-library');
    await library.waitFor();
    const installed = library.locator('[data-testid="installed-model"][data-name="Salesforce--blip2-opt-2.7b-int4"]');
    assert.match(await installed.innerText(), /Salesforce\/blip2-opt-2\.7b@[0-9a-f]{7} int4.*in use for captions/s);
    assert.equal(await library.locator(`[data-testid="known-model"][data-repo="${OPT}"]`).getAttribute('data-status'), 'installed');
    await installed.getByRole('button', { name: 'Verify Salesforce--blip2-opt-2.7b-int4' }).click();
    await installed.getByText('verified', { exact: true }).waitFor();
    assert.equal(await page.getByTestId('token-state').innerText(), 'no token is set');
    await app.screenshot('settings-models');

    // ── who talked to the Hub ────────────────────────────────────────────────────────────────
    assert.equal(hub.requests.length, requestsWhenDone, 'captioning and Settings made no request');
    assert.ok(converterPids.length >= 3, `a plan and two downloads, each in a converter process (${converterPids.length})`);
    assert.ok(converterPids.every((pid) => pid !== undefined && pid !== process.pid));
    for (const q of hub.requests) {
      assert.ok(!q.path.includes('.bin'), `never the .bin weights: ${q.path}`);
      assert.doesNotMatch(userAgent(q), /Mozilla|Chrome|Safari/, `a request from a browser: ${q.path} (${userAgent(q)})`);
      assert.equal(q.headers.origin, undefined, `a request from a page: ${q.path}`);
      assert.equal(q.auth, false, 'no token is set, none is sent');
    }
  });
});
