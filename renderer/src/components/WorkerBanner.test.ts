import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { fakeApp } from '../test/setup.ts';
import WithContext from '../test/WithContext.svelte';
import WorkerBanner from './WorkerBanner.svelte';

describe('WorkerBanner', () => {
  it('shows a crash while the worker restarts, then that it recovered', async () => {
    const { fake, ctx } = fakeApp();
    await ctx.app.start();
    render(WithContext, { props: { ctx, component: WorkerBanner } });
    expect(screen.queryByTestId('worker-banner')).toBeNull();

    fake.emit('worker:status', { state: 'restarting', restarts: 1, message: 'the inference worker crashed (SIGKILL)' });
    await Promise.resolve();
    const banner = await screen.findByTestId('worker-banner');
    expect(banner.dataset.state).toBe('restarting');
    expect(banner.textContent).toContain('SIGKILL');

    fake.emit('worker:status', { state: 'ready', restarts: 1 });
    await Promise.resolve();
    expect((await screen.findByTestId('worker-banner')).dataset.state).toBe('recovered');
    await fireEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('worker-banner')).toBeNull();
    ctx.app.stop();
  });

  it('notices a restart it did not see happen (a higher restart count)', async () => {
    const { fake, ctx } = fakeApp();
    await ctx.app.start();
    render(WithContext, { props: { ctx, component: WorkerBanner } });
    fake.emit('worker:status', { state: 'ready', restarts: 2 });
    expect((await screen.findByTestId('worker-banner')).dataset.state).toBe('recovered');
    ctx.app.stop();
  });
});
