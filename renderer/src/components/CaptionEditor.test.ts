import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { fakeApp } from '../test/setup.ts';
import CaptionEditor from './CaptionEditor.svelte';

describe('CaptionEditor', () => {
  it('saves a user caption and shows its provenance', async () => {
    const { fake, ctx } = fakeApp({ photos: 10 });
    render(CaptionEditor, { photo: ctx.photo });
    await ctx.photo.open(5);
    await waitFor(() => expect(screen.getByTestId('caption-text').textContent).toBe('a photo number 5'));
    expect(screen.getByTestId('provenance').textContent).toBe('AI');
    expect(screen.getByRole('button', { name: 'Accept caption' })).toBeTruthy();

    const save = screen.getByRole('button', { name: 'Save caption' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    await fireEvent.input(screen.getByLabelText('Edit caption'), { target: { value: '  my cat on the sofa ' } });
    expect(save.disabled).toBe(false);
    await fireEvent.click(save);

    await waitFor(() => expect(screen.getByTestId('caption-text').textContent).toBe('my cat on the sofa'));
    expect(fake.callsTo('setCaption')[0].arg).toEqual({ photoId: 5, text: 'my cat on the sofa' });
    expect(screen.getByTestId('provenance').textContent).toBe('You');
    expect(screen.queryByRole('button', { name: 'Accept caption' })).toBeNull();
  });

  it('regenerates with options, streaming the new text', async () => {
    const { fake, ctx } = fakeApp({ photos: 3 });
    let finish!: () => void;
    fake.handle('regenerateCaption', async ({ photoId, requestId, options }) => {
      fake.emit('stream:token', { requestId, text: 'a red ' });
      await new Promise<void>((r) => (finish = r));
      const saved = await fake.bridge.setCaption({ photoId, text: `a red car ${options?.numBeams}` });
      if (!saved.ok) throw new Error(saved.error.message);
      return saved.data;
    });
    ctx.photo.start();
    render(CaptionEditor, { photo: ctx.photo });
    await ctx.photo.open(2);
    await waitFor(() => screen.getByTestId('caption-text'));
    await fireEvent.click(screen.getByRole('button', { name: 'Options' }));
    await fireEvent.input(screen.getByLabelText('Beams'), { target: { value: '3' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Regenerate' }));
    await waitFor(() => expect(screen.getByTestId('caption-streaming').textContent).toBe('a red '));
    expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy();
    finish();
    await waitFor(() => expect(screen.getByTestId('caption-text').textContent).toBe('a red car 3'));
    expect(fake.callsTo('regenerateCaption')[0].arg).toMatchObject({ photoId: 2, options: { maxNewTokens: 30, numBeams: 3 } });
  });
});
