// The safetensors reader against the real fixture, round-trips through the test writer, a sharded
// copy of the fixture, and each kind of broken or lying file, whose error must name the file.
import assert from 'node:assert/strict';
import { copyFile, mkdir, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint, SafetensorsFile, f16ToF32, readJsonFile } from '../../src/builder/safetensors.ts';
import { fixturePath, makeTempDir, readJson } from '../helpers/fixtures.ts';

/** The fixture's own sizes, as its full config states them. */
const OPT_CFG = readJson('opt/config.full.json');
import { encodeRaw, encodeSafetensors, f32ToBf16, f32ToF16, toF16, writeSafetensors } from '../helpers/safetensors-writer.ts';

const FIXTURE = fixturePath('opt/model.safetensors');
let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

/** Expects a rejection with the given code whose message names `file` (and any extra strings). */
async function rejectsNaming(p: Promise<unknown>, code: string, file: string, ...also: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `message names ${file}: ${e.message}`);
    for (const a of also) assert.ok(typeof a === 'string' ? e.message.includes(a) : a.test(e.message), `message has ${a}: ${e.message}`);
    return true;
  });
}

async function put(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

const tensorHeader = (entries: Record<string, [string, number[], number, number]>) =>
  JSON.stringify(Object.fromEntries(Object.entries(entries).map(([k, [dtype, shape, b, e]]) => [k, { dtype, shape, data_offsets: [b, e] }])));

describe('SafetensorsFile on the fixture', () => {
  it('reads shapes and finite values by name', async () => {
    const f = await SafetensorsFile.open(FIXTURE);
    try {
      assert.equal(f.names().length, 113);
      assert.deepEqual(f.info('vision_model.embeddings.class_embedding'), { dtype: 'F32', shape: [1, 1, 48], byteLength: 192 });
      assert.deepEqual(f.info('language_model.model.decoder.embed_tokens.weight').shape, [50272, 48]);
      assert.deepEqual(f.info('query_tokens').shape, [1, OPT_CFG.num_query_tokens, OPT_CFG.qformer_config.hidden_size]);
      assert.deepEqual(f.metadata, { format: 'pt' });
      for (const name of ['vision_model.embeddings.class_embedding', 'language_model.model.decoder.embed_tokens.weight']) {
        const v = f.readFloat32(name);
        assert.equal(v.length, f.info(name).shape.reduce((a, b) => a * b, 1));
        assert.ok(v.every(Number.isFinite), `${name} is finite`);
        assert.ok(v.some((x) => x !== 0), `${name} is not all zeros`);
      }
      // readRaw is exactly the bytes at the header's offsets.
      const whole = await readFile(FIXTURE);
      const n = Number(whole.readBigUInt64LE(0));
      const [b, e] = JSON.parse(whole.subarray(8, 8 + n).toString()).query_tokens.data_offsets;
      assert.deepEqual(f.readRaw('query_tokens'), whole.subarray(8 + n + b, 8 + n + e));
      assert.throws(() => f.readFloat32('nope'), (e: any) => e.code === 'tensor_missing' && e.message.includes('"nope"') && e.message.includes(FIXTURE));
    } finally {
      await f.close();
    }
  });
});

describe('dtype conversion', () => {
  it('F16 known bit patterns, including subnormals, ±inf, NaN and -0', () => {
    const cases: [number, number][] = [
      [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x3555, 0.333251953125], [0x0400, 2 ** -14],
      [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x8001, -(2 ** -24)],
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
    ];
    for (const [h, v] of cases) assert.equal(f16ToF32(h), v, `0x${h.toString(16)}`);
    assert.ok(Object.is(f16ToF32(0x8000), -0));
    assert.ok(Number.isNaN(f16ToF32(0x7e00)) && Number.isNaN(f16ToF32(0xfc01)));
  });

  it('every F16 bit pattern survives F16 → F32 → F16', () => {
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToF32(f32ToF16(x))));
      else assert.equal(f32ToF16(x), h, `0x${h.toString(16)}`);
    }
  });

  it('F32, F16, BF16 and F64 round-trip through a written file', async () => {
    const vals = [0, -0, 1, -2, 0.1, 3.140625, 65504, 2 ** -24, 2 ** -20, Infinity, -Infinity, NaN, 1e-3, -123.5];
    const bf16Bits = Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0xff80, 0x7fc0, 0x8000, 0x0001, 0x4049]);
    const path = join(dir, 'dtypes.safetensors');
    await writeSafetensors(path, {
      f32: { dtype: 'F32', shape: [vals.length], data: Float32Array.from(vals) },
      f16: { dtype: 'F16', shape: [2, vals.length / 2], data: toF16(vals) },
      bf16: { dtype: 'BF16', shape: [bf16Bits.length], data: bf16Bits },
      f64: { dtype: 'F64', shape: [3], data: Float64Array.from([1.5, -1e-50, 1e300]) },
      ids: { dtype: 'I64', shape: [2], data: BigInt64Array.from([1n, 2n]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    }, { format: 'pt' });
    const f = await SafetensorsFile.open(path);
    try {
      assert.deepEqual([...f.readFloat32('f32')], [...Float32Array.from(vals)]);
      // Every test value is exactly representable in F16 except 0.1 and 1e-3, which round.
      const f16 = f.readFloat32('f16');
      vals.forEach((v, i) => {
        if (v === 0.1 || v === 1e-3) assert.ok(Math.abs(f16[i] - v) < v * 1e-3);
        else assert.ok(Object.is(f16[i], v), `${v} → ${f16[i]}`);
      });
      const bf = f.readFloat32('bf16');
      assert.deepEqual([...bf].slice(0, 4), [1, -2, Infinity, -Infinity]);
      assert.ok(Number.isNaN(bf[4]) && Object.is(bf[5], -0));
      assert.equal(bf[6], 2 ** -133); // a float32 subnormal
      assert.equal(bf[7], 3.140625);
      assert.equal(f32ToBf16(3.140625), 0x4049);
      assert.deepEqual([...f.readFloat32('f64')], [1.5, -0, Math.fround(1e300)]);
      assert.deepEqual(f.readFloat32('empty'), new Float32Array(0));
      assert.deepEqual(f.info('ids'), { dtype: 'I64', shape: [2], byteLength: 16 });
      assert.throws(() => f.readFloat32('ids'), (e: any) => e.code === 'checkpoint_unsupported' && e.message.includes('I64') && e.message.includes(path));
    } finally {
      await f.close();
    }
  });

  it('reads a tensor past 4 GiB of a sparse file by offset', async () => {
    // The file is 5 GiB long but almost all hole: a whole-file read would be slow and huge.
    const pad = 5 * 2 ** 30;
    const header = tensorHeader({ pad: ['U8', [pad], 0, pad], tail: ['F32', [4], pad, pad + 16] });
    const path = await put('sparse.safetensors', encodeRaw(header));
    const fh = await open(path, 'r+');
    const start = (await fh.stat()).size;
    await fh.write(new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer), 0, 16, start + pad);
    await fh.close();
    const f = await SafetensorsFile.open(path);
    assert.deepEqual([...f.readFloat32('tail')], [1, 2, 3, 4]);
    await f.close();
    await rm(path);
  });
});

describe('Checkpoint', () => {
  it('a sharded copy of the fixture reads identically to the single file', async () => {
    const single = await SafetensorsFile.open(FIXTURE);
    const names = single.names();
    const shards = join(dir, 'sharded');
    await mkdir(shards);
    const weightMap: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, 40), names.slice(40)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors = Object.fromEntries(part.map((n) => {
        weightMap[n] = file;
        return [n, { dtype: 'F32', shape: single.info(n).shape, data: single.readRaw(n) }];
      }));
      await writeSafetensors(join(shards, file), tensors);
    }
    await writeFile(join(shards, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
    const ck = await Checkpoint.open(shards);
    try {
      assert.equal(ck.files.length, 2);
      assert.deepEqual(ck.metadata, { total_size: 1 });
      assert.deepEqual(ck.names().sort(), [...names].sort());
      for (const n of names) {
        assert.deepEqual(ck.info(n), single.info(n));
        assert.deepEqual(ck.readFloat32(n), single.readFloat32(n), n);
      }
      assert.ok(ck.require(names[50]).file.endsWith('model-00002-of-00002.safetensors'));
      assert.ok(ck.has(names[0]) && !ck.has('nope'));
    } finally {
      await ck.close();
      await single.close();
    }

    // A shard the index names but the folder lacks: the error names both.
    await rm(join(shards, 'model-00002-of-00002.safetensors'));
    await rejectsNaming(Checkpoint.open(shards), 'checkpoint_invalid', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'missing');
  });

  it('opens model.safetensors and names the tensor and folder when one is missing', async () => {
    const ck = await Checkpoint.open(fixturePath('opt'));
    try {
      assert.equal(ck.names().length, 113);
      assert.deepEqual(ck.require('query_tokens').shape, [1, OPT_CFG.num_query_tokens, OPT_CFG.qformer_config.hidden_size]);
      const name = 'language_model.model.decoder.layers.7.fc9.weight';
      for (const call of [() => ck.require(name), () => ck.readFloat32(name), () => ck.info(name)]) {
        assert.throws(call, (e: any) => e.code === 'tensor_missing' && e.message.includes(name) && e.message.includes(fixturePath('opt')));
      }
    } finally {
      await ck.close();
    }
  });

  it('a missing folder, or one without weights, says what it looked for', async () => {
    const nowhere = join(dir, 'nowhere');
    await rejectsNaming(Checkpoint.open(nowhere), 'checkpoint_invalid', nowhere, 'does not exist');
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await rejectsNaming(Checkpoint.open(empty), 'checkpoint_invalid', empty, 'model.safetensors', 'model.safetensors.index.json');
    const missingFile = join(dir, 'absent.safetensors');
    await rejectsNaming(SafetensorsFile.open(missingFile), 'checkpoint_invalid', missingFile, 'not found');
  });
});

describe('broken and lying files are refused, naming the file', () => {
  const invalid = 'checkpoint_invalid';

  it('zero-byte and too-short files', async () => {
    await rejectsNaming(SafetensorsFile.open(await put('zero.safetensors', new Uint8Array(0))), invalid, 'zero.safetensors', 'empty');
    await rejectsNaming(SafetensorsFile.open(await put('short.safetensors', new Uint8Array(5))), invalid, 'short.safetensors', /truncated/);
  });

  it('a truncated copy of the fixture', async () => {
    const path = join(dir, 'truncated.safetensors');
    await copyFile(FIXTURE, path);
    await truncate(path, 10648200 - 100);
    await rejectsNaming(SafetensorsFile.open(path), invalid, path, 'truncated: expected at least 10648200 bytes, file has 10648100');
  });

  it('header length larger than the file, or implausibly large', async () => {
    const b = Buffer.alloc(18);
    b.writeBigUInt64LE(1000n);
    await rejectsNaming(SafetensorsFile.open(await put('hlen.safetensors', b)), invalid, 'hlen.safetensors', 'truncated: expected at least 1008 bytes', 'file has 18');
    b.writeBigUInt64LE(2n ** 60n);
    await rejectsNaming(SafetensorsFile.open(await put('huge.safetensors', b)), invalid, 'huge.safetensors', 'limit');
  });

  it('a header that is not JSON, or not an object', async () => {
    await rejectsNaming(SafetensorsFile.open(await put('nojson.safetensors', encodeRaw('{"a": {'))), invalid, 'nojson.safetensors', 'JSON');
    await rejectsNaming(SafetensorsFile.open(await put('arr.safetensors', encodeRaw('[1,2]'))), invalid, 'arr.safetensors', 'object');
    const badUtf8 = encodeRaw('{}');
    badUtf8[9] = 0xff;
    await rejectsNaming(SafetensorsFile.open(await put('utf8.safetensors', badUtf8)), invalid, 'utf8.safetensors');
  });

  it('offsets that disagree with the shape', async () => {
    const file = await put('lie.safetensors', encodeRaw(tensorHeader({ a: ['F32', [2, 3], 0, 20] }), new Uint8Array(24)));
    await rejectsNaming(SafetensorsFile.open(file), invalid, file, '"a"', '20 bytes', 'needs 24');
    const neg = await put('neg.safetensors', encodeRaw(tensorHeader({ a: ['F32', [-1], 0, 0] })));
    await rejectsNaming(SafetensorsFile.open(neg), invalid, neg, 'shape');
  });

  it('overlapping ranges', async () => {
    const file = await put('overlap.safetensors', encodeRaw(tensorHeader({ a: ['F32', [4], 0, 16], b: ['F32', [2], 8, 16] }), new Uint8Array(16)));
    await rejectsNaming(SafetensorsFile.open(file), invalid, file, 'overlap', '"a"', '"b"');
  });

  it('offsets beyond the end of the file', async () => {
    const file = await put('beyond.safetensors', encodeRaw(tensorHeader({ a: ['F32', [4], 0, 16], b: ['F32', [256], 16, 1040] }), new Uint8Array(16)));
    await rejectsNaming(SafetensorsFile.open(file), invalid, file, /truncated: expected at least \d+ bytes/, '"b"');
  });

  it('unknown dtypes are named', async () => {
    for (const dtype of ['F8_E4M3', 'X99']) {
      const file = await put(`dtype-${dtype}.safetensors`, encodeSafetensors({ t: { dtype, shape: [4], data: new Uint8Array(4) } }));
      await rejectsNaming(SafetensorsFile.open(file), 'checkpoint_unsupported', file, dtype, '"t"');
    }
  });

  it('readJsonFile names the file when it is missing or not JSON', async () => {
    const missing = join(dir, 'config.json');
    await rejectsNaming(readJsonFile(missing, 'model configuration'), invalid, missing, 'model configuration');
    const bad = await put('bad.json', Buffer.from('{ "a": '));
    await rejectsNaming(readJsonFile(bad, 'model configuration'), invalid, bad, 'not valid JSON');
    assert.deepEqual(await readJsonFile(await put('ok.json', Buffer.from('{"a":1}')), 'x'), { a: 1 });
  });
});
