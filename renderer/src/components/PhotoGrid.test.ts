import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeLayout, fakeApp } from '../test/setup.ts';
import WithContext from '../test/WithContext.svelte';
import PhotoGrid from './PhotoGrid.svelte';

let restoreLayout: () => void;
beforeEach(() => (restoreLayout = fakeLayout(800, 600)));
afterEach(() => restoreLayout());

async function renderGrid(photos: number) {
  const { fake, ctx } = fakeApp({ photos });
  const onopen = vi.fn();
  render(WithContext, { props: { ctx, component: PhotoGrid, props: { onopen } } });
  ctx.library.start();
  const grid = screen.getByRole('grid');
  await waitFor(() => expect(grid.querySelector('[data-photo-id="1"]')).not.toBeNull());
  return { fake, ctx, grid, onopen };
}

describe('PhotoGrid', () => {
  it('renders only a window of rows for 100,000 photos', async () => {
    const { grid, fake } = await renderGrid(100_000);
    // 800px wide → 5 columns of 160px; 600px high → 4 visible rows + 3 overscan.
    expect(grid.getAttribute('aria-rowcount')).toBe('20000');
    expect(grid.getAttribute('aria-colcount')).toBe('5');
    expect(grid.querySelectorAll('[role="row"]')).toHaveLength(7);
    expect(grid.querySelectorAll('[data-testid="photo-cell"]')).toHaveLength(35);
    expect(fake.callsTo('listPhotos')).toHaveLength(1);
  });

  it('moves the selection with the keyboard, follows it to the end, and opens with Enter', async () => {
    const { grid, ctx, onopen } = await renderGrid(100_000);
    await fireEvent.focus(grid);
    expect(ctx.library.selectedIndex).toBe(0);
    await fireEvent.keyDown(grid, { key: 'ArrowRight' });
    await fireEvent.keyDown(grid, { key: 'ArrowDown' });
    expect(ctx.library.selectedIndex).toBe(6);
    expect(grid.getAttribute('aria-activedescendant')).toBe('photo-cell-6');
    expect(document.getElementById('photo-cell-6')?.getAttribute('aria-selected')).toBe('true');
    await fireEvent.keyDown(grid, { key: 'ArrowUp' });
    await fireEvent.keyDown(grid, { key: 'ArrowLeft' });
    await fireEvent.keyDown(grid, { key: 'ArrowLeft' });
    expect(ctx.library.selectedIndex).toBe(0);

    await fireEvent.keyDown(grid, { key: 'End' });
    expect(ctx.library.selectedIndex).toBe(99_999);
    // The last rows are rendered now (and only a window of them), and their page gets loaded.
    await waitFor(() => expect(grid.querySelector('[data-photo-id="100000"]')).not.toBeNull());
    expect(grid.querySelectorAll('[role="row"]').length).toBeLessThanOrEqual(8);
    expect(ctx.library.loadedPages).toEqual([0, 499]);

    await fireEvent.keyDown(grid, { key: 'Enter' });
    expect(onopen).toHaveBeenCalledWith(100_000);
    await fireEvent.keyDown(grid, { key: 'Home' });
    expect(ctx.library.selectedIndex).toBe(0);
    await waitFor(() => expect(grid.querySelector('[data-photo-id="1"]')).not.toBeNull());
  });

  it('opens a photo when its cell is clicked', async () => {
    const { grid, onopen } = await renderGrid(12);
    const cell = grid.querySelector('[data-photo-id="7"] button') as HTMLButtonElement;
    expect(cell.getAttribute('aria-label')).toContain('IMG_000007.jpg');
    await fireEvent.click(cell);
    expect(onopen).toHaveBeenCalledWith(7);
  });
});
