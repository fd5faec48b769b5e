import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { PullProgressEvent, ResultMap } from '../lib/contract.ts';
import { EMPTY_QUEUE } from '../state/queue.svelte.ts';
import { fakeApp } from '../test/setup.ts';
import WithContext from '../test/WithContext.svelte';
import FirstRun from './FirstRun.svelte';

function noModelApp() {
  const { fake, ctx } = fakeApp({ firstRun: true });
  fake.handle('getState', () => ({
    firstRun: true,
    settings: {
      captionModelDir: null, retrievalModelDir: null, threads: 0, executionProvider: 'cpu', lowMemory: false, xmp: 'off', sidecarNaming: 'ext', pairPreference: 'jpeg',
      hierarchicalSubjects: false, autoCaption: true, captionPrompt: '', maxNewTokens: 30, numBeams: 1, modelsDir: null, hubEndpoint: null,
    },
    folders: [],
    models: { caption: { dir: null, state: 'none' }, retrieval: { dir: null, state: 'none' } },
    worker: { state: 'stopped', restarts: 0 },
    queue: EMPTY_QUEUE,
    counts: { photos: 0, captioned: 0, tagged: 0 },
    searchAvailable: false,
  }));
  return { fake, ctx };
}

describe('FirstRun', () => {
  it('explains that a model is needed and sets the one the user names', async () => {
    const { fake, ctx } = noModelApp();
    await ctx.app.refresh();
    render(WithContext, { props: { ctx, component: FirstRun } });
    expect(screen.getByTestId('step-model').textContent).toContain('needs a BLIP-2 model');

    await fireEvent.click(screen.getByLabelText('I have a converted model folder'));
    await fireEvent.input(screen.getByLabelText('Converted model folder', { selector: 'input[type="text"]' }), { target: { value: '/models/opt' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Use this model' }));
    await waitFor(() => expect(fake.callsTo('setModel')[0]?.arg).toEqual({ role: 'caption', dir: '/models/opt' }));
  });

  it('is never a dead end: it can be left and reopened', async () => {
    const { ctx } = noModelApp();
    await ctx.app.refresh();
    expect(ctx.app.showFirstRun).toBe(true);
    render(WithContext, { props: { ctx, component: FirstRun } });
    await fireEvent.click(screen.getByRole('button', { name: 'Skip for now' }));
    expect(ctx.app.showFirstRun).toBe(false);
    ctx.app.reopenFirstRun();
    expect(ctx.app.showFirstRun).toBe(true);
  });
});

/** A pullModels answer the test gives (or a 'cancelled' error it raises) when it chooses. */
function deferredPull() {
  let settle!: { resolve: (v: ResultMap['pullModels']) => void; reject: (e: unknown) => void };
  const next = () => new Promise<ResultMap['pullModels']>((resolve, reject) => { settle = { resolve, reject }; });
  return { next, settle: () => settle };
}

const progress = (requestId: string, over: Partial<PullProgressEvent> = {}): PullProgressEvent => ({
  requestId, index: 0, count: 1, role: 'caption', repo: 'Salesforce/blip2-opt-2.7b', stage: 'downloading',
  bytesDone: 500_000_000, bytesTotal: 2_000_000_000, rate: 12_000_000, etaSeconds: 125, ...over,
});

describe('FirstRun: Download BLIP-2', () => {
  it('is the first choice, and nothing is looked up on the Hub until the user asks', async () => {
    const { fake, ctx } = noModelApp();
    await ctx.app.refresh();
    render(WithContext, { props: { ctx, component: FirstRun } });
    const radios = within(screen.getByRole('radiogroup', { name: 'How to get a model' })).getAllByRole('radio');
    expect(radios[0].parentElement?.textContent?.trim()).toBe('Download BLIP-2 (recommended)');
    expect((radios[0] as HTMLInputElement).checked).toBe(true);
    await waitFor(() => expect(screen.getByTestId('model-download').textContent).toContain('Salesforce/blip2-opt-2.7b'));
    const privacy = screen.getByTestId('download-privacy').textContent ?? '';
    expect(privacy).toContain('connects to the Hugging Face Hub (huggingface.co) only for this download');
    expect(privacy).toContain('Your photos never leave this computer');
    expect(fake.callsTo('listModels').length).toBeGreaterThan(0);
    expect(fake.callsTo('planModelDownload')).toEqual([]);
    expect(fake.callsTo('pullModels')).toEqual([]);
  });

  it('shows the sizes from the Hub (with the retrieval model when asked), then downloads', async () => {
    const { fake, ctx } = noModelApp();
    await ctx.start();
    render(WithContext, { props: { ctx, component: FirstRun } });
    await screen.findByText('Check download size');
    await fireEvent.click(screen.getByLabelText('Also enable search and tags'));
    await fireEvent.click(screen.getByRole('button', { name: 'Check download size' }));
    const plan = await screen.findByTestId('download-plan');
    expect((fake.callsTo('planModelDownload')[0]?.arg as { models: unknown }).models).toEqual([
      { ref: 'Salesforce/blip2-opt-2.7b', role: 'caption' }, { ref: 'Salesforce/blip2-itm-vit-g', role: 'retrieval' },
    ]);
    const text = plan.textContent ?? '';
    expect(text).toContain('15.5 GB'); // download, per model
    expect(text).toContain('2.30 GB'); // on disk
    expect(text).toContain('3.30 GB'); // RAM
    expect(text).toContain('31.0 GB'); // total download
    expect(screen.getByTestId('plan-space').textContent).toContain('100.0 GB free in');
    expect(fake.callsTo('pullModels')).toEqual([]);

    await fireEvent.click(screen.getByRole('button', { name: 'Start download' }));
    await waitFor(() => expect(fake.callsTo('pullModels').length).toBe(1));
    await screen.findByTestId('download-outcome');
    expect(screen.getByTestId('download-outcome').textContent).toContain('Salesforce/blip2-opt-2.7b@aaaaaaa int4');
    ctx.stop();
  });

  it('shows stage, bytes, rate and time left; Cancel stops it and Resume carries on', async () => {
    const { fake, ctx } = noModelApp();
    const pull = deferredPull();
    fake.handle('pullModels', () => pull.next());
    await ctx.start();
    render(WithContext, { props: { ctx, component: FirstRun } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Check download size' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Start download' }));
    await waitFor(() => expect(fake.callsTo('pullModels').length).toBe(1));
    const { requestId, models } = fake.callsTo('pullModels')[0].arg as { requestId: string; models: unknown };

    fake.emit('pull:progress', progress(requestId));
    expect((await screen.findByTestId('download-stage')).textContent).toBe('Downloading and converting');
    expect(screen.getByTestId('download-bytes').textContent).toBe('0.50 GB of 2.00 GB');
    expect(screen.getByTestId('download-rate').textContent).toBe('12 MB/s');
    expect(screen.getByTestId('download-eta').textContent).toBe('2 min left');

    await fireEvent.click(screen.getByRole('button', { name: 'Cancel download' }));
    await waitFor(() => expect(fake.callsTo('cancel')[0]?.arg).toEqual({ requestId }));
    fake.emit('pull:progress', progress(requestId, { outcome: 'cancelled', rate: 0, etaSeconds: null }));
    pull.settle().reject({ code: 'cancelled', message: 'the download was cancelled' });
    await waitFor(() => expect(screen.getByTestId('download-progress').dataset.status).toBe('cancelled'));
    expect(screen.getByTestId('download-outcome').textContent).toContain('Download cancelled');
    expect(screen.queryByRole('button', { name: 'Cancel download' })).toBeNull();

    await fireEvent.click(screen.getByRole('button', { name: 'Resume download' }));
    await waitFor(() => expect(fake.callsTo('pullModels').length).toBe(2));
    const again = fake.callsTo('pullModels')[1].arg as { requestId: string; models: unknown };
    expect(again.models).toEqual(models);
    fake.emit('pull:progress', progress(again.requestId, { bytesDone: 1_500_000_000 }));
    expect((await screen.findByTestId('download-bytes')).textContent).toBe('1.50 GB of 2.00 GB');
    fake.emit('pull:progress', progress(again.requestId, { stage: 'done', bytesDone: 2_000_000_000, resumed: true, outcome: 'done' }));
    pull.settle().resolve({ models: [{ ref: 'Salesforce/blip2-opt-2.7b', role: 'caption', repo: 'Salesforce/blip2-opt-2.7b', dir: '/data/models/x', label: 'Salesforce/blip2-opt-2.7b@abcdef0 int4', downloadedBytes: 1, resumed: true, alreadyPresent: false }] });
    await waitFor(() => expect(screen.getByTestId('download-progress').dataset.status).toBe('done'));
    expect(screen.getByTestId('download-outcome').textContent).toContain('resumed where it stopped');
    ctx.stop();
  });

  it('says why a lookup failed (no network, gated repo)', async () => {
    const { fake, ctx } = noModelApp();
    fake.fail('planModelDownload', { code: 'network_error', message: 'cannot reach https://huggingface.co' });
    await ctx.start();
    render(WithContext, { props: { ctx, component: FirstRun } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Check download size' }));
    expect((await screen.findByTestId('plan-error')).textContent).toContain('cannot reach https://huggingface.co');
    ctx.stop();
  });
});
