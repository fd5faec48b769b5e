// The renderer end to end in headless Chromium: the built renderer/dist, with window.photoAssistant
// served by the real main-process service (real catalog, real watcher on a temp folder, real worker
// running the tiny fixture model) through test/e2e/harness.ts. Screenshots of each main screen go
// to test/e2e/artifacts. Run: node --import tsx --test test/e2e/app.e2e.test.ts
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { FIXTURES, PHOTOS } from '../helpers/fixtures.ts';
import { startApp } from './harness.ts';

type App = Awaited<ReturnType<typeof startApp>>;

const SAMPLE = ['astronaut.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'].map((f) => join(PHOTOS, f));
const LONG = 90_000;

/** Polls `fn` until it returns a truthy value (or throws the last failure after `timeoutMs`). */
async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = LONG, everyMs = 100): Promise<NonNullable<T>> {
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

const cells = (page: Page) => page.getByTestId('photo-cell');

describe('first run without a model', () => {
  test('the welcome flow explains what is needed and is never a dead end', { timeout: 120_000 }, async () => {
    const app = await startApp({ withModel: false });
    try {
      const { page } = app;
      const welcome = page.getByTestId('first-run');
      await welcome.waitFor();
      const text = await welcome.innerText();
      assert.match(text, /needs a BLIP-2 model converted for on-device use/);
      assert.match(text, /Nothing leaves this computer/);
      // The first choice is the download (nothing is fetched until asked); a converted folder and
      // converting a checkpoint stay offered.
      assert.equal(await page.getByLabel('Download BLIP-2 (recommended)').isChecked(), true);
      await page.getByTestId('model-download').getByRole('button', { name: 'Check download size' }).waitFor();
      await page.getByLabel('I have a converted model folder').check();
      await page.getByLabel('Converted model folder', { exact: true }).waitFor();
      await page.getByLabel('Convert a downloaded checkpoint').check();
      await page.getByLabel('Checkpoint folder', { exact: true }).waitFor();
      await page.getByLabel('I have a converted model folder').check();
      await app.screenshot('first-run');

      // Skipping leads to a library whose empty state offers the next steps, and back here.
      await page.getByRole('button', { name: 'Skip for now' }).click();
      await page.getByTestId('empty-library').waitFor();
      await page.getByTestId('no-model').waitFor();
      assert.match(await page.getByTestId('search-fallback').innerText(), /Semantic search needs the retrieval model/);
      await page.getByRole('button', { name: 'Add a folder' }).waitFor();
      await app.screenshot('library-empty');
      await page.getByRole('button', { name: 'Set up a model' }).click();
      await welcome.waitFor();
    } finally {
      await app.close();
    }
  });

  test('converting a checkpoint and choosing a folder leads to a captioned library', { timeout: 180_000 }, async () => {
    const app = await startApp({ withModel: false, photos: [join(PHOTOS, 'chelsea.jpg')] });
    try {
      const { page } = app;
      const welcome = page.getByTestId('first-run');
      await welcome.waitFor();
      await page.getByLabel('Convert a downloaded checkpoint').check();
      await page.getByLabel('Checkpoint folder', { exact: true }).fill(join(FIXTURES, 'opt'));
      await page.getByLabel('Save the converted model in', { exact: true }).fill(join(app.userDataDir, 'models', 'opt'));
      await page.getByLabel('fp32').check();
      await page.getByRole('button', { name: 'Convert', exact: true }).click();
      await page.getByTestId('convert-progress').waitFor();
      // The converted model is used at once: step 1 turns ready.
      await page.getByTestId('step-model').getByText('Ready', { exact: true }).waitFor({ timeout: 150_000 });
      await app.screenshot('first-run-converted');
      // The system folder picker ("Browse…") fills the folder in; adding it opens the library.
      await page.getByRole('button', { name: 'Browse for photo folder' }).click();
      await until('the picked folder', async () => (await page.getByLabel('Photo folder', { exact: true }).inputValue()) === app.photoDir);
      await page.getByRole('button', { name: 'Add folder' }).click();
      await welcome.waitFor({ state: 'detached' });
      await until('the photo captioned', async () =>
        (await page.locator('[data-testid="photo-cell"][data-status="done"]').count()) === 1);
    } finally {
      await app.close();
    }
  });
});

describe('with the tiny captioning and retrieval models', () => {
  let app: App;
  let page: Page;
  let photoId: number;
  // The steps build on each other: after one fails, the rest say so instead of timing out.
  let failed: string | null = null;
  const step = (name: string, fn: () => Promise<void>) =>
    test(name, { timeout: LONG }, async (t) => {
      if (failed) return t.skip(`"${failed}" failed`);
      try {
        await fn();
      } catch (err) {
        failed = name;
        throw err;
      }
    });

  before(async () => {
    app = await startApp({ withModel: true, retrievalModel: true, photos: SAMPLE });
    page = app.page;
  });
  after(async () => {
    const errors = app?.pageErrors.slice() ?? [];
    await app?.close();
    // Nothing failed in the page along the way (uncaught errors, CSP violations).
    assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), []);
  });

  step('add a folder: its photos appear in the grid', async () => {
    await page.getByTestId('first-run').waitFor();
    await page.getByTestId('step-model').getByText('Ready', { exact: true }).waitFor();
    await page.getByLabel('Photo folder', { exact: true }).fill(app.photoDir);
    await page.getByRole('button', { name: 'Add folder' }).click();
    // The folder finishes the first run: the library shows, and the watcher's photos arrive.
    await page.getByRole('grid').waitFor();
    await until('4 photos in the grid', async () => (await cells(page).count()) === SAMPLE.length);
    const folder = page.getByTestId('folder').first();
    await folder.waitFor();
    assert.match(await folder.innerText(), /Watching|Scanning/);
    await app.screenshot('library');
  });

  step('photos get captions', async () => {
    await until('every photo captioned', async () =>
      (await page.locator('[data-testid="photo-cell"][data-status="done"]').count()) === SAMPLE.length);
    const captions = await page.getByTestId('cell-caption').allInnerTexts();
    assert.ok(captions.some((c) => c.trim().length > 0), `some caption text is shown (got ${JSON.stringify(captions)})`);
    await until('the queue done', async () => Number(await page.getByTestId('queue-done').innerText()) >= SAMPLE.length);
    // The sidebar's counts follow the queue (refreshed on library:changed).
    await until('the folder shows every photo captioned', async () =>
      (await page.getByTestId('folder').first().innerText()).includes(`${SAMPLE.length} captioned`));
    await app.screenshot('library-captioned');
  });

  step('keyboard: arrows move the selection, Enter opens, Escape goes back', async () => {
    const grid = page.getByRole('grid');
    await grid.focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    assert.equal(await grid.getAttribute('aria-activedescendant'), 'photo-cell-1');
    const second = await page.locator('#photo-cell-1').getAttribute('data-photo-id');
    await page.keyboard.press('Enter');
    const view = page.getByTestId('photo-view');
    await view.waitFor();
    await until('the second photo open', async () => (await view.getByRole('heading', { level: 2 }).innerText()) !== '');
    assert.equal((await app.service.getPhoto({ photoId: Number(second) })).name, await view.getByRole('heading', { level: 2 }).innerText());
    await page.keyboard.press('Escape');
    await view.waitFor({ state: 'detached' });
    // Focus goes back to the grid, so the arrows go on from the same photo.
    await until('focus back on the grid', () => page.evaluate(() => document.activeElement?.getAttribute('role') === 'grid'), 5_000);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await grid.getAttribute('aria-activedescendant'), 'photo-cell-0');
  });

  step('edit a caption: it becomes the user\'s, in the catalog too', async () => {
    const first = cells(page).first();
    photoId = Number(await first.getAttribute('data-photo-id'));
    await first.getByRole('button').click();
    const view = page.getByTestId('photo-view');
    await view.waitFor();
    await view.getByTestId('caption-text').waitFor();
    assert.equal(await view.getByTestId('provenance').first().innerText(), 'AI');
    await view.getByLabel('Edit caption').fill('A caption written by hand');
    await view.getByRole('button', { name: 'Save caption' }).click();
    await until('the saved caption', async () =>
      (await view.getByTestId('caption-text').innerText()) === 'A caption written by hand');
    assert.equal(await view.getByTestId('provenance').first().innerText(), 'You');
    const saved = await app.service.getPhoto({ photoId });
    assert.equal(saved.caption, 'A caption written by hand');
    assert.equal(saved.captionProvenance, 'user');
    await app.screenshot('photo-view');
  });

  step('accept and reject tags: the catalog follows', async () => {
    const view = page.getByTestId('photo-view');
    await view.getByLabel('New tag').fill('holiday');
    await view.getByRole('button', { name: 'Add tag' }).click();
    await view.locator('[data-testid="tag"][data-label="holiday"][data-state="accepted"]').waitFor();

    // An AI suggestion is accepted when there is one; a tag is rejected either way.
    const suggested = view.locator('[data-testid="tag"][data-state="suggested"]');
    let accepted: string | null = null;
    if ((await suggested.count()) > 0) {
      accepted = await suggested.first().getAttribute('data-label');
      await view.getByRole('button', { name: `Accept tag ${accepted}` }).click();
      await view.locator(`[data-testid="tag"][data-label="${accepted}"][data-state="accepted"]`).waitFor();
    }
    await view.getByRole('button', { name: 'Reject tag holiday' }).click();
    // A rejected tag moves to the "Rejected" list (it can be restored) and stays rejected in the catalog.
    await view.locator('[data-testid="tag"][data-label="holiday"][data-state="rejected"]').waitFor({ state: 'attached' });
    const tags = (await app.service.getPhoto({ photoId })).tags;
    assert.equal(tags.find((t) => t.label === 'holiday')?.state, 'rejected');
    assert.equal(app.service.lib.catalog.allTags(photoId).find((t) => t.label === 'holiday')?.state, 'rejected');
    assert.ok(!app.service.lib.catalog.tagsOf(photoId).some((t) => t.label === 'holiday'), 'not among the live tags (nor in XMP)');
    if (accepted) assert.equal(tags.find((t) => t.label === accepted)?.state, 'accepted');
  });

  step('a chat turn: the answer streams token by token and Stop ends it', async () => {
    const view = page.getByTestId('photo-view');
    await view.getByRole('button', { name: 'Answer options' }).click();
    await view.getByLabel('Max answer length (tokens)').fill('200');
    // Record every text the answer shows while it streams, and press Stop (the button the user sees
    // while it streams) as soon as a second, longer text shows that tokens are arriving one by one.
    await page.evaluate(() => {
      const state = { seen: [] as string[], stopAt: -1 };
      (window as unknown as { __chat: typeof state }).__chat = state;
      new MutationObserver(() => {
        const answers = document.querySelectorAll('[data-testid="chat-answer"]');
        const text = answers[answers.length - 1]?.textContent ?? '';
        if (!text || text === '…' || state.seen[state.seen.length - 1] === text) return;
        state.seen.push(text);
        if (state.seen.length === 2) {
          const stop = [...document.querySelectorAll<HTMLButtonElement>('[data-testid="chat"] button')].find((b) => b.textContent?.trim() === 'Stop');
          state.stopAt = stop ? state.seen.length : 0;
          stop?.click();
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    // Main's side of the stream: how many tokens it generated for this question.
    let tokens = 0;
    const off = app.service.on('stream:token', () => void tokens++);
    await view.getByLabel('Question about this photo').fill('what is in the picture?');
    await view.getByRole('button', { name: 'Ask' }).click();
    const chat = () => page.evaluate(() => (window as unknown as { __chat: { seen: string[]; stopAt: number } }).__chat);
    const turn = view.getByTestId('chat-turn').last();
    await until('the turn stopped', async () => (await turn.getAttribute('data-status')) === 'stopped');
    await view.getByRole('button', { name: 'Ask' }).waitFor();
    const { seen, stopAt } = await chat();
    assert.equal(stopAt, 2, 'a Stop button was there while the answer streamed');
    assert.ok(seen.length >= 2 && seen[1].length > seen[0].length, `the answer grew token by token: ${JSON.stringify(seen.slice(0, 3))}`);
    // The worker really stopped, well before the 200-token limit; the partial answer stays.
    let last = -1;
    await until('the stream to end', async () => {
      const settled = tokens === last;
      last = tokens;
      return settled;
    }, LONG, 300);
    off();
    assert.ok(tokens < 150, `generation ended soon after Stop (${tokens} tokens)`);
    const final = await turn.getByTestId('chat-answer').innerText();
    assert.ok(final.length > 0, 'the partial answer is kept');
    // The turn says which model answered (the folder-converted model: <folder>:<weights>).
    assert.match(await turn.getByTestId('chat-model').innerText(), /^Answered by .+:(fp32|int8|int4)$/);
    await app.screenshot('chat');
  });

  step('search: semantic results with the retrieval model', async () => {
    await page.keyboard.press('Escape');
    await page.getByTestId('photo-view').waitFor({ state: 'detached' });
    await until('semantic search available', async () => (await page.getByTestId('search-fallback').count()) === 0);
    await page.getByLabel('Search photos').fill('a cat on a sofa');
    await page.getByLabel('Search photos').press('Enter');
    await until('search results', async () => /found/.test(await page.getByTestId('photo-count').innerText()));
    assert.ok((await cells(page).count()) > 0, 'results are shown');
    await app.screenshot('search');
    await page.getByLabel('Search photos').fill('');
    await page.getByLabel('Search photos').press('Enter');
    await until('all photos again', async () => (await cells(page).count()) === SAMPLE.length);
  });

  step('settings: models, XMP, the privacy note, and the menu\'s commands', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    const dialog = page.getByTestId('settings');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Nothing leaves this computer/);
    await dialog.getByTestId('model-caption').getByText(/^ready/).waitFor();
    await app.screenshot('settings');
    // Low memory: stored, and the captioning model reloaded in that mode (then back, for the steps after).
    for (const on of [true, false]) {
      await dialog.getByLabel(/^Low memory/).setChecked(on);
      await until(`low memory ${on} stored`, async () => (await app.service.getState()).settings.lowMemory === on);
      const badge = dialog.getByTestId('model-caption').locator('.badge');
      await until(`the captioning model ready ${on ? 'in' : 'out of'} low memory`, async () => {
        const text = await badge.innerText();
        return /^ready/.test(text) && /low memory/.test(text) === on;
      });
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    // The menu's commands reach the views (main owns the menu).
    app.service.events.emit('app:command', { command: 'open-settings' });
    await dialog.waitFor();
    app.service.events.emit('app:command', { command: 'focus-search' });
    await dialog.waitFor({ state: 'detached' });
    await until('the search box focused', () => page.evaluate(() => document.activeElement?.id === 'search-input'), 10_000);
  });

  step('a corrupt photo is shown as an error naming the file', async () => {
    // A JPEG signature (so the scanner takes it for a photo) followed by garbage.
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('this is not really a photo '.repeat(40))]);
    await writeFile(join(app.photoDir, 'broken.jpg'), garbage);
    const failedCell = page.locator('[data-testid="photo-cell"][data-status="failed"]');
    await until('an error naming broken.jpg', async () => {
      if ((await page.getByTestId('queue-error').filter({ hasText: 'broken.jpg' }).count()) > 0) return true;
      for (const label of await failedCell.locator('button').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''))) {
        if (label.includes('broken.jpg')) return true;
      }
      return false;
    });
    await failedCell.getByTestId('photo-error').first().waitFor();
    await app.screenshot('photo-error');
  });

  step('a worker crash is shown and recovered from', async () => {
    // Record each state the banner shows: the restart may take only a moment.
    await page.evaluate(() => {
      const states: string[] = [];
      (window as unknown as { __banner: string[] }).__banner = states;
      new MutationObserver(() => {
        const s = document.querySelector('[data-testid="worker-banner"]')?.getAttribute('data-state') ?? 'none';
        if (states[states.length - 1] !== s) states.push(s);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    });
    const pid = await until('a worker pid', () => app.service.workerPid);
    process.kill(pid, 'SIGKILL');
    const banner = page.getByTestId('worker-banner');
    await until('the worker recovered', async () => (await banner.getAttribute('data-state')) === 'recovered');
    const states = await page.evaluate(() => (window as unknown as { __banner: string[] }).__banner);
    assert.ok(states.indexOf('restarting') >= 0 && states.indexOf('restarting') < states.indexOf('recovered'),
      `the banner said "restarting" before "recovered": ${JSON.stringify(states)}`);
    const newPid = await until('a new worker pid', () => app.service.workerPid);
    assert.notEqual(newPid, pid);
    await app.screenshot('worker-recovered');

    // It works again: a regenerated caption comes back from the new worker.
    const cell = cells(page).filter({ has: page.locator('[data-testid="cell-caption"]') }).nth(1);
    const id = Number(await cell.getAttribute('data-photo-id'));
    const before = (await app.service.getPhoto({ photoId: id })).captionHistory.length;
    await cell.getByRole('button').click();
    const view = page.getByTestId('photo-view');
    await view.getByTestId('caption-text').waitFor();
    await view.getByRole('button', { name: 'Regenerate' }).click();
    await until('a new caption in the history', async () => (await app.service.getPhoto({ photoId: id })).captionHistory.length === before + 1);
    await view.getByTestId('caption-text').waitFor();
    await page.keyboard.press('Escape');
    await banner.getByRole('button', { name: 'Dismiss' }).click();
    await banner.waitFor({ state: 'detached' });
  });
});
