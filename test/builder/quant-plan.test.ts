// The quantization table per --quant choice: its defaults (int4's block sizes, int8's), and the
// settings that only one choice takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_INT8_PROJECTIONS, INT4_BLOCK_SIZE, INT8_BLOCK_SIZE, quantPlan } from '../../src/builder/quant-plan.ts';
import { errorCode } from '../../src/shared/errors.ts';

const invalid = (e: Error) => errorCode(e) === 'invalid_argument';

describe('quantPlan', () => {
  it('int4: 4-bit blocks of 64, 8-bit blocks of 128 for the LM head and the default projections, per-channel image side', () => {
    const p = quantPlan({ quant: 'int4' });
    assert.deepEqual([INT4_BLOCK_SIZE, INT8_BLOCK_SIZE], [64, 128]);
    assert.deepEqual(p.decoder, { bits: 4, blockSize: 64, symmetric: true, accuracyLevel: 4 });
    assert.deepEqual(p.lmHead, { bits: 8, blockSize: 128, symmetric: true, accuracyLevel: 4 });
    assert.deepEqual(p.decoderOverrides, { suffixes: [...DEFAULT_INT8_PROJECTIONS], policy: p.lmHead, chosen: false });
    assert.equal(p.vision?.kernel, 'DynamicQuantizeMatMul');
    assert.equal(p.qformer?.kernel, 'DynamicQuantizeMatMul');
  });

  it('int4 takes other block sizes; int8 keeps 8-bit blocks of 32 everywhere', () => {
    const p = quantPlan({ quant: 'int4', blockSize: 32, int8BlockSize: 64, int8Projections: [] });
    assert.equal(p.decoder?.blockSize, 32);
    assert.equal(p.lmHead?.blockSize, 64);
    assert.equal(p.decoderOverrides, undefined);
    const q = quantPlan({ quant: 'int8' });
    for (const part of [q.vision, q.qformer, q.decoder, q.lmHead]) assert.deepEqual(part, { bits: 8, blockSize: 32, symmetric: true, accuracyLevel: 4 });
    assert.deepEqual(quantPlan({ quant: 'fp32' }), {});
  });

  it('refuses int4-only settings elsewhere and block sizes that are not powers of two ≥ 16', () => {
    assert.throws(() => quantPlan({ quant: 'int8', int8BlockSize: 128 }), invalid);
    assert.throws(() => quantPlan({ quant: 'fp32', int8Projections: ['fc2'] }), invalid);
    assert.throws(() => quantPlan({ quant: 'int4', int8BlockSize: 96 }), invalid);
    assert.throws(() => quantPlan({ quant: 'int4', blockSize: 8 }), invalid);
    assert.throws(() => quantPlan({ quant: 'int5' as never }), invalid);
  });
});
