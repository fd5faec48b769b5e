import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { EMPTY_QUEUE } from '../state/queue.svelte.ts';
import { fakeApp } from '../test/setup.ts';
import WithContext from '../test/WithContext.svelte';
import FirstRun from './FirstRun.svelte';

function noModelApp() {
  const { fake, ctx } = fakeApp({ firstRun: true });
  fake.handle('getState', () => ({
    firstRun: true,
    settings: {
      captionModelDir: null, retrievalModelDir: null, threads: 0, executionProvider: 'cpu', xmp: 'off', sidecarNaming: 'ext',
      hierarchicalSubjects: false, autoCaption: true, captionPrompt: '', maxNewTokens: 30, numBeams: 1,
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
