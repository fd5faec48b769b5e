import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../lib/client.ts';
import { createFakeBridge } from '../test/fake-bridge.ts';
import { LibraryState, PAGE_SIZE } from './library.svelte.ts';
import { toasts } from './toasts.svelte.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(photos: number, searchAvailable = false) {
  const fake = createFakeBridge({ photos, searchAvailable });
  const library = new LibraryState(new Client(fake.bridge), { searchAvailable: () => searchAvailable, refreshDelayMs: 5 });
  return { fake, library };
}

afterEach(() => toasts.clear());

describe('LibraryState', () => {
  it('loads the first page, then only the pages a range needs', async () => {
    const { fake, library } = setup(100_000);
    await library.reload();
    expect(library.total).toBe(100_000);
    expect(library.itemAt(0)?.id).toBe(1);
    expect(library.loadedPages).toEqual([0]);

    library.ensureRange(5 * PAGE_SIZE + 10, 5 * PAGE_SIZE + 60);
    library.ensureRange(5 * PAGE_SIZE + 10, 5 * PAGE_SIZE + 60); // in flight: not asked twice
    await wait(0);
    expect(library.loadedPages).toEqual([0, 5]);
    expect(library.itemAt(5 * PAGE_SIZE + 10)?.id).toBe(5 * PAGE_SIZE + 11);
    const offsets = fake.callsTo('listPhotos').map((c) => (c.arg as { offset: number }).offset);
    expect(offsets).toEqual([0, 5 * PAGE_SIZE]);
    expect(library.itemAt(3 * PAGE_SIZE)).toBeUndefined();
  });

  it('refetches the visible pages on library:changed and keeps the view', async () => {
    const { fake, library } = setup(1000);
    library.start();
    await wait(0);
    library.ensureRange(400, 450);
    await wait(0);
    fake.setTotal(1001);
    await fake.bridge.setCaption({ photoId: 401, text: 'my own words' });
    fake.emit('library:changed', { photoIds: [401] });
    await wait(30);
    expect(library.total).toBe(1001);
    expect(library.itemAt(400)).toMatchObject({ caption: 'my own words', captionProvenance: 'user' });
    const last = fake.callsTo('listPhotos').at(-1)!.arg as { offset: number };
    expect(last.offset).toBe(2 * PAGE_SIZE);
    library.stop();
    expect(fake.listenerCount('library:changed')).toBe(0);
  });

  it('searches semantically with the retrieval model', async () => {
    const { fake, library } = setup(1000, true);
    library.setQuery('a dog');
    await wait(0);
    expect(library.mode).toBe('semantic');
    expect(fake.callsTo('search')[0].arg).toMatchObject({ query: 'a dog' });
    expect(library.total).toBe(3);
  });

  it('falls back to a caption-text filter without the retrieval model', async () => {
    const { fake, library } = setup(1000, false);
    library.setFilters({ captioned: true, dateFrom: '' });
    library.setQuery('dog');
    await wait(0);
    expect(library.mode).toBe('browse');
    expect(fake.callsTo('search')).toHaveLength(0);
    const last = fake.callsTo('listPhotos').at(-1)!.arg as { filters: object };
    expect(last.filters).toEqual({ captioned: true, captionContains: 'dog' });
  });

  it('drops answers for a list that changed meanwhile', async () => {
    const { fake, library } = setup(500);
    let release!: () => void;
    fake.handle('listPhotos', async ({ offset = 0 }) => {
      if (offset === 0 && !release) await new Promise<void>((r) => (release = r));
      return { total: 1, offset, items: [] };
    });
    const first = library.reload();
    await wait(0);
    fake.handle('listPhotos', ({ offset = 0 }) => ({ total: 7, offset, items: [] }));
    await library.reload();
    release();
    await first;
    expect(library.total).toBe(7);
  });
});
