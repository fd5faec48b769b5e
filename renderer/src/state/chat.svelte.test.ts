import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../lib/client.ts';
import type { ChatAnswer } from '../lib/contract.ts';
import { createFakeBridge } from '../test/fake-bridge.ts';
import { ChatState } from './chat.svelte.ts';
import { toasts } from './toasts.svelte.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup() {
  const fake = createFakeBridge({ photos: 10 });
  let finish!: (answer: ChatAnswer) => void;
  const asked: Array<{ chatId: string; history: unknown }> = [];
  fake.handle('ask', (arg) => {
    asked.push({ chatId: arg.chatId, history: arg.history });
    return new Promise<ChatAnswer>((r) => (finish = r));
  });
  const chat = new ChatState(new Client(fake.bridge));
  chat.start();
  return { fake, chat, asked, finish: (a: ChatAnswer) => finish(a) };
}

afterEach(() => toasts.clear());

describe('ChatState', () => {
  it('shows the streamed text so far as the current answer, then takes the final text', async () => {
    const { fake, chat, asked, finish } = setup();
    chat.show(1);
    const done = chat.ask('what is this?');
    await tick();
    expect(chat.streaming).toBe(true);
    const id = asked[0].chatId;
    fake.emit('stream:token', { requestId: id, text: 'a ' });
    fake.emit('stream:token', { requestId: 'someone-else', text: 'x' });
    expect(chat.turns[0].answer).toBe('a ');
    fake.emit('stream:token', { requestId: id, text: 'a cat' });
    expect(chat.turns[0].answer).toBe('a cat');
    finish({ text: 'a cat', endedWithEos: true, cancelled: false, model: 'test/blip2@0000000 int4' });
    await done;
    expect(chat.turns[0]).toMatchObject({ question: 'what is this?', answer: 'a cat', status: 'done', model: 'test/blip2@0000000 int4' });
    expect(chat.streaming).toBe(false);
  });

  it('Stop cancels the request and keeps the partial answer', async () => {
    const { fake, chat, asked, finish } = setup();
    chat.show(1);
    const done = chat.ask('describe it');
    await tick();
    const id = asked[0].chatId;
    fake.emit('stream:token', { requestId: id, text: 'two dogs' });
    await chat.stopAnswer();
    expect(fake.callsTo('cancel')[0].arg).toEqual({ requestId: id });
    fake.emit('stream:token', { requestId: id, text: 'two dogs late' });
    finish({ text: '', endedWithEos: false, cancelled: true, model: 'test/blip2@0000000 int4' });
    await done;
    expect(chat.turns[0]).toMatchObject({ answer: 'two dogs', status: 'stopped' });
    expect(toasts.items).toHaveLength(0);
  });

  it('keeps a conversation per photo and sends its history', async () => {
    const { chat, asked, finish } = setup();
    chat.show(1);
    let done = chat.ask('first?');
    await tick();
    finish({ text: 'one', endedWithEos: true, cancelled: false, model: 'test/blip2@0000000 int4' });
    await done;

    chat.show(2);
    expect(chat.turns).toHaveLength(0);
    done = chat.ask('other photo?');
    await tick();
    expect(asked[1].history).toEqual([]);
    finish({ text: 'two', endedWithEos: true, cancelled: false, model: 'test/blip2@0000000 int4' });
    await done;

    chat.show(1);
    expect(chat.turns.map((t) => t.answer)).toEqual(['one']);
    done = chat.ask('second?');
    await tick();
    expect(asked[2].history).toEqual([{ question: 'first?', answer: 'one' }]);
    finish({ text: 'three', endedWithEos: true, cancelled: false, model: 'test/blip2@0000000 int4' });
    await done;
    expect(chat.turns).toHaveLength(2);
  });

  it('marks a failed turn and reports it', async () => {
    const { fake, chat } = setup();
    fake.fail('ask', { code: 'model_missing', message: 'no captioning model' });
    chat.show(3);
    await chat.ask('hello?');
    expect(chat.turns[0]).toMatchObject({ status: 'error', error: 'no captioning model' });
    expect(toasts.items[0].message).toContain('no captioning model');
  });
});
