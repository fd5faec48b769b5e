import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { fakeApp } from '../test/setup.ts';
import { fakeModelsView } from '../test/fake-bridge.ts';
import WithContext from '../test/WithContext.svelte';
import ModelLibrary from './ModelLibrary.svelte';

describe('ModelLibrary (Settings → Models)', () => {
  it('lists known and installed models with download, verify and remove', async () => {
    const { fake, ctx } = fakeApp();
    fake.handle('listModels', () => fakeModelsView({
      installed: [
        { name: 'Salesforce--blip2-opt-2.7b-int4', dir: '/data/models/Salesforce--blip2-opt-2.7b-int4', state: 'ready', label: 'Salesforce/blip2-opt-2.7b@abcdef0 int4', kind: 'blip2-opt', weights: 'int4', repo: 'Salesforce/blip2-opt-2.7b', bytes: 2_300_000_000, inUse: 'caption' },
        { name: 'Salesforce--blip2-itm-vit-g-int8', dir: '/data/models/.Salesforce--blip2-itm-vit-g-int8.pull', state: 'partial', bytes: 100, inUse: null },
      ],
      known: fakeModelsView().known.map((k) => (k.role === 'caption' && k.usable ? { ...k, status: 'installed' as const } : k.role === 'retrieval' ? { ...k, status: 'partial' as const } : k)),
    }));
    await ctx.start();
    render(WithContext, { props: { ctx, component: ModelLibrary } });
    const lib = await screen.findByTestId('model-library');
    expect(screen.getByTestId('models-dir').textContent).toBe('/data/models');
    const known = within(lib).getAllByTestId('known-model');
    expect(known.map((k) => k.dataset.status)).toEqual(['installed', 'available', 'partial']);
    expect(known[0].textContent).toContain('installed');
    expect(known[1].textContent).toContain('coming later');
    await fireEvent.click(within(known[2]).getByRole('button', { name: 'Resume downloading blip2-itm' }));
    await waitFor(() => expect((fake.callsTo('pullModels')[0]?.arg as { models: unknown }).models).toEqual([{ ref: 'Salesforce/blip2-itm-vit-g', role: 'retrieval' }]));

    const installed = within(lib).getAllByTestId('installed-model');
    expect(installed[0].textContent).toContain('Salesforce/blip2-opt-2.7b@abcdef0 int4');
    expect(installed[0].textContent).toContain('in use for captions');
    expect(installed[1].textContent).toContain('unfinished download');
    expect(within(installed[1]).queryByRole('button', { name: /Verify/ })).toBeNull();
    await fireEvent.click(within(installed[0]).getByRole('button', { name: 'Verify Salesforce--blip2-opt-2.7b-int4' }));
    await waitFor(() => expect(within(screen.getAllByTestId('installed-model')[0]).getByText('verified')).toBeTruthy());
    await fireEvent.click(within(screen.getAllByTestId('installed-model')[1]).getByRole('button', { name: 'Remove Salesforce--blip2-itm-vit-g-int8' }));
    await waitFor(() => expect(fake.callsTo('removeModel')[0]?.arg).toEqual({ name: 'Salesforce--blip2-itm-vit-g-int8' }));
    ctx.stop();
  });

  it('a known model is downloaded after its sizes are shown', async () => {
    const { fake, ctx } = fakeApp();
    await ctx.start();
    render(WithContext, { props: { ctx, component: ModelLibrary } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Download blip2-opt-2.7b' }));
    await screen.findByTestId('download-plan');
    expect(fake.callsTo('pullModels')).toEqual([]);
    await fireEvent.click(screen.getByRole('button', { name: 'Start download' }));
    await waitFor(() => expect((fake.callsTo('pullModels')[0]?.arg as { models: unknown }).models).toEqual([{ ref: 'Salesforce/blip2-opt-2.7b', role: 'caption' }]));
    ctx.stop();
  });

  it('sets and clears the Hub token, showing only whether one is set', async () => {
    const { fake, ctx } = fakeApp();
    let tokenSet = false;
    fake.handle('listModels', () => fakeModelsView({ tokenSet }));
    fake.handle('setHubToken', ({ token }) => ({ tokenSet: (tokenSet = token !== null) }));
    await ctx.start();
    render(WithContext, { props: { ctx, component: ModelLibrary } });
    expect((await screen.findByTestId('token-state')).textContent).toBe('no token is set');
    const input = screen.getByLabelText('Hugging Face token', { selector: 'input' }) as HTMLInputElement;
    expect(input.type).toBe('password');
    await fireEvent.input(input, { target: { value: 'not-a-token' } });
    expect((screen.getByRole('button', { name: 'Save token' }) as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(input, { target: { value: 'hf_secret_value_123' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save token' }));
    await waitFor(() => expect(screen.getByTestId('token-state').textContent).toBe('a token is set'));
    expect(fake.callsTo('setHubToken')[0]?.arg).toEqual({ token: 'hf_secret_value_123' });
    await waitFor(() => expect(input.value).toBe(''));
    expect(document.body.innerHTML).not.toContain('hf_secret_value_123');
    await fireEvent.click(screen.getByRole('button', { name: 'Clear token' }));
    await waitFor(() => expect(screen.getByTestId('token-state').textContent).toBe('no token is set'));
    expect(fake.callsTo('setHubToken')[1]?.arg).toEqual({ token: null });
    ctx.stop();
  });

  it('says when no token can be stored (no keyring)', async () => {
    const { fake, ctx } = fakeApp();
    fake.handle('listModels', () => fakeModelsView({ tokenStorage: false }));
    await ctx.start();
    render(WithContext, { props: { ctx, component: ModelLibrary } });
    expect((await screen.findByTestId('hub-token')).textContent).toContain('no keyring');
    expect(screen.queryByLabelText('Hugging Face token', { selector: 'input' })).toBeNull();
    ctx.stop();
  });
});
