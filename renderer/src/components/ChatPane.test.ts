import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { ChatAnswer } from '../lib/contract.ts';
import { fakeApp } from '../test/setup.ts';
import WithContext from '../test/WithContext.svelte';
import ChatPane from './ChatPane.svelte';

describe('ChatPane', () => {
  it('streams the answer, offers Stop while streaming, then Copy', async () => {
    const { fake, ctx } = fakeApp({ photos: 3 });
    let chatId = '';
    let finish!: (a: ChatAnswer) => void;
    fake.handle('ask', (arg) => {
      chatId = arg.chatId;
      return new Promise((r) => (finish = r));
    });
    ctx.chat.start();
    ctx.chat.show(1);
    render(WithContext, { ctx, component: ChatPane });

    await fireEvent.input(screen.getByLabelText('Question about this photo'), { target: { value: 'what color?' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Ask' }));
    await waitFor(() => expect(chatId).not.toBe(''));
    fake.emit('stream:token', { requestId: chatId, text: 'bright' });
    await waitFor(() => expect(screen.getByTestId('chat-answer').textContent).toBe('bright'));
    expect(screen.getByTestId('chat-answer').getAttribute('aria-live')).toBe('polite');
    fake.emit('stream:token', { requestId: chatId, text: 'bright red' });
    await waitFor(() => expect(screen.getByTestId('chat-answer').textContent).toBe('bright red'));

    await fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(fake.callsTo('cancel')).toHaveLength(1);
    finish({ text: 'bright red', endedWithEos: false, cancelled: true, model: 'test/blip2@0000000 int4' });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Ask' })).toBeTruthy());
    expect(screen.getByTestId('chat-answer').textContent).toBe('bright red');
    expect(screen.getByText('Stopped.')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Copy answer to: what color?' })).toBeTruthy();
  });
});
