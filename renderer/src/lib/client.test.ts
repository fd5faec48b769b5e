import { describe, expect, it } from 'vitest';
import { Client, ClientError, handleError } from './client.ts';
import { ToastState } from '../state/toasts.svelte.ts';
import { createFakeBridge } from '../test/fake-bridge.ts';

describe('Client', () => {
  it('unwraps the data of a successful call', async () => {
    const fake = createFakeBridge({ photos: 3 });
    const page = await new Client(fake.bridge).call('listPhotos', { offset: 1, limit: 10 });
    expect(page.total).toBe(3);
    expect(page.items.map((p) => p.id)).toEqual([2, 3]);
  });

  it('throws an error carrying the code and file of a failed call', async () => {
    const fake = createFakeBridge();
    fake.fail('getPhoto', { code: 'photo_unreadable', message: 'not an image', file: '/p/broken.jpg' });
    const err = await new Client(fake.bridge).call('getPhoto', { photoId: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'photo_unreadable', message: 'not an image', file: '/p/broken.jpg' });
  });

  it('turns a bridge that throws into an io_error', async () => {
    const fake = createFakeBridge();
    const bridge = { ...fake.bridge, getState: () => Promise.reject(new Error('ipc gone')) };
    await expect(new Client(bridge).call('getState')).rejects.toMatchObject({ code: 'io_error' });
  });
});

describe('handleError', () => {
  it('ignores cancellation', () => {
    const toasts = new ToastState();
    handleError(new ClientError({ code: 'cancelled', message: 'stopped' }), 'Asking', toasts);
    expect(toasts.items).toHaveLength(0);
  });

  it('shows other errors as a toast naming what was being done and the file', () => {
    const toasts = new ToastState();
    handleError(new ClientError({ code: 'photo_unreadable', message: 'bad bytes', file: 'broken.jpg' }), 'Opening the photo', toasts);
    expect(toasts.items).toHaveLength(1);
    expect(toasts.items[0]).toMatchObject({ kind: 'error', message: 'Opening the photo: bad bytes (broken.jpg)' });
    toasts.clear();
  });
});
