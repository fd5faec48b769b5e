// The virtual grid's geometry: square cells sized to fill the width, and which rows are in the DOM
// (the visible ones plus an overscan), so the cost of a frame does not grow with the library.
export interface GridLayout {
  columns: number;
  cellSize: number;
  rowCount: number;
  totalHeight: number;
  /** Rows [firstRow, lastRow) are rendered. */
  firstRow: number;
  lastRow: number;
  visibleRows: number;
}

export const MIN_CELL = 150;
export const OVERSCAN_ROWS = 3;

export function gridLayout(width: number, height: number, scrollTop: number, total: number,
  minCell = MIN_CELL, overscan = OVERSCAN_ROWS): GridLayout {
  const columns = Math.max(1, Math.floor(Math.max(width, 1) / minCell));
  const cellSize = Math.max(1, Math.floor(width / columns)) || minCell;
  const rowCount = Math.ceil(total / columns);
  const visibleRows = Math.max(1, Math.ceil(Math.max(height, cellSize) / cellSize));
  const top = Math.floor(Math.max(0, scrollTop) / cellSize);
  const firstRow = Math.max(0, top - overscan);
  const lastRow = Math.min(rowCount, top + visibleRows + overscan);
  return { columns, cellSize, rowCount, totalHeight: rowCount * cellSize, firstRow, lastRow, visibleRows };
}

/** The index the selection moves to for a key, or null when the key is not a grid key. */
export function moveSelection(key: string, index: number, total: number, columns: number, pageRows: number): number | null {
  if (total === 0) return null;
  const from = index < 0 ? 0 : index;
  const last = total - 1;
  const clamp = (i: number) => Math.min(last, Math.max(0, i));
  switch (key) {
    case 'ArrowRight': return index < 0 ? 0 : clamp(from + 1);
    case 'ArrowLeft': return index < 0 ? 0 : clamp(from - 1);
    case 'ArrowDown': return index < 0 ? 0 : clamp(from + columns);
    case 'ArrowUp': return index < 0 ? 0 : clamp(from - columns);
    case 'PageDown': return clamp(from + columns * pageRows);
    case 'PageUp': return clamp(from - columns * pageRows);
    case 'Home': return 0;
    case 'End': return last;
    default: return null;
  }
}
