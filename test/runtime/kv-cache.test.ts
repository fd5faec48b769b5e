import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ort } from '../../src/runtime/session.ts';
import { KvCache, isIdentity } from '../../src/runtime/blip2/kv-cache.ts';

const WIDTH = 3;

/** A step's new_key_values for 2 layers: value = 1000·layer + 100·(key 0 / value 1) + 10·row + position. */
function stepOutputs(rows: number, start: number, added: number): ort.InferenceSession.OnnxValueMapType {
  const out: Record<string, ort.Tensor> = {};
  for (let layer = 0; layer < 2; layer++) {
    for (const [kv, which] of [['key', 0], ['value', 1]] as const) {
      const data = new Float32Array(rows * added * WIDTH);
      for (let r = 0; r < rows; r++) for (let p = 0; p < added; p++) data.fill(1000 * layer + 100 * which + 10 * r + start + p, (r * added + p) * WIDTH, (r * added + p + 1) * WIDTH);
      out[`new_key_values.${layer}.${kv}`] = new ort.Tensor('float32', data, [rows, added, WIDTH]);
    }
  }
  return out;
}

/** The first element of each position of each row of one fed cache tensor. */
function positions(t: ort.Tensor): number[][] {
  const [rows, length, width] = t.dims;
  const d = t.data as Float32Array;
  return Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, p) => d[(r * length + p) * width]));
}

test('appends new keys/values after the cached positions and feeds [rows, length, width]', () => {
  const c = new KvCache(2, WIDTH);
  const empty = c.feeds();
  assert.deepEqual(Object.keys(empty).sort(), ['past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
  assert.deepEqual(empty['past_key_values.0.key'].dims, [1, 0, WIDTH]);
  c.append(stepOutputs(1, 0, 4), 4);
  c.append(stepOutputs(1, 4, 1), 1);
  assert.equal(c.length, 5);
  const f = c.feeds();
  assert.deepEqual(f['past_key_values.1.value'].dims, [1, 5, WIDTH]);
  assert.deepEqual(positions(f['past_key_values.1.value']), [[1100, 1101, 1102, 1103, 1104]]);
  assert.deepEqual(positions(f['past_key_values.0.key']), [[0, 1, 2, 3, 4]]);
});

test('grows past its first capacity without losing positions', () => {
  const c = new KvCache(2, WIDTH);
  c.append(stepOutputs(1, 0, 60), 60);
  for (let p = 60; p < 200; p++) c.append(stepOutputs(1, p, 1), 1);
  const got = positions(c.feeds()['past_key_values.1.key'])[0];
  assert.deepEqual(got, Array.from({ length: 200 }, (_, p) => 1000 + p));
});

test('beam search: expands one row to several, reorders rows, and packs them for the graph', () => {
  const c = new KvCache(2, WIDTH);
  c.append(stepOutputs(1, 0, 3), 3); // prompt, one row
  c.reorder([0, 0, 0]); // 1 → 3 beams
  assert.equal(c.rows, 3);
  c.append(stepOutputs(3, 3, 1), 1); // rows differ from here on
  assert.deepEqual(positions(c.feeds()['past_key_values.0.value']), [[100, 101, 102, 103], [100, 101, 102, 113], [100, 101, 102, 123]]);
  c.reorder([2, 2, 0]);
  c.append(stepOutputs(3, 4, 1), 1);
  const f = c.feeds();
  assert.deepEqual(f['past_key_values.0.value'].dims, [3, 5, WIDTH]);
  assert.deepEqual(positions(f['past_key_values.0.value']), [[100, 101, 102, 123, 104], [100, 101, 102, 123, 114], [100, 101, 102, 103, 124]]);
  // Growing with several rows keeps every row.
  for (let p = 5; p < 70; p++) c.append(stepOutputs(3, p, 1), 1);
  assert.deepEqual(positions(c.feeds()['past_key_values.1.key']).map((r) => r.slice(2, 6)), [[1002, 1023, 1004, 1005], [1002, 1023, 1014, 1015], [1002, 1003, 1024, 1025]]);
  // A new sequence starts from one empty row.
  c.reset();
  assert.deepEqual(c.feeds()['past_key_values.0.key'].dims, [1, 0, WIDTH]);
});

test('a graph output of the wrong shape is named', () => {
  const c = new KvCache(2, WIDTH);
  assert.throws(() => c.append(stepOutputs(2, 0, 1), 1), /new_key_values\.0\.key has shape \[2, 1, 3\], expected \[1, 1, 3\]/);
});

test('isIdentity: only rows that each continue themselves', () => {
  assert.equal(isIdentity([0, 1, 2], 3), true);
  assert.equal(isIdentity([0, 0, 1], 3), false);
  assert.equal(isIdentity([0, 0, 0], 1), false);
});
