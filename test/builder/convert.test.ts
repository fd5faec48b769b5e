// Conversion of real checkpoint folders, and each kind of bad input it must refuse clearly
// without leaving anything that looks like a model behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { readManifest, verifyChecksums } from '../../src/runtime/model-folder.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

async function copyCheckpoint(name: string, from = 'opt'): Promise<string> {
  const to = join(dir, name);
  await cp(fixturePath(from), to, { recursive: true });
  return to;
}

/** Rewrites a safetensors header in place of the original (tensor data untouched). */
async function editHeader(file: string, edit: (h: Record<string, any>) => void): Promise<void> {
  const buf = await readFile(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  edit(header);
  let text = JSON.stringify(header);
  // Keep the data offset unchanged: pad the header with spaces to its original length.
  if (text.length > n) throw new Error('edited header grew');
  text = text.padEnd(n, ' ');
  const out = Buffer.concat([buf.subarray(0, 8), Buffer.from(text), buf.subarray(8 + n)]);
  await writeFile(file, out);
}

async function expectNoModelLeft(out: string): Promise<void> {
  assert.ok(!existsSync(out), 'no output folder');
  const leftovers = (await readdir(dir)).filter((f) => f.includes('.partial-'));
  assert.deepEqual(leftovers, [], 'no partial folders');
}

describe('convert', () => {
  it('writes graphs, external data and a manifest whose checksums verify', async () => {
    const out = join(dir, 'ok');
    const m = await convertCheckpoint(fixturePath('opt'), out);
    assert.equal(m.kind, 'blip2-opt');
    assert.equal(m.shapes.queries, 8);
    assert.equal(m.shapes.language?.vocabRows, 50272);
    assert.deepEqual(m.tokens.eos, [2]);
    assert.ok(m.tokenizer.includes('vocab.json'));
    const read = await readManifest(out);
    assert.deepEqual(read.files, m.files);
    assert.deepEqual(await verifyChecksums(out, read), []);
    for (const g of ['vision', 'qformer', 'decoder']) assert.ok(existsSync(join(out, `${g}.onnx.data`)));
  });

  it('a checkpoint that is not BLIP-2 is refused, naming config.json and what is supported', async () => {
    const ck = await copyCheckpoint('llama');
    await writeFile(join(ck, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama' }));
    await assert.rejects(convertCheckpoint(ck, join(dir, 'out-llama')), (e: any) =>
      e.code === 'checkpoint_unsupported' && e.message.includes('config.json') && e.message.includes('LlamaForCausalLM') && e.message.includes('supported'));
    await expectNoModelLeft(join(dir, 'out-llama'));
  });

  it('BLIP-2 with Flan-T5 converts to encoder and decoder graphs; an unsupported T5 feature is named', async () => {
    const m = await convertCheckpoint(fixturePath('flan_t5'), join(dir, 'out-t5'));
    assert.equal(m.kind, 'blip2-t5');
    assert.deepEqual(Object.keys(m.graphs).sort(), ['decoder', 'encoder', 'qformer', 'vision']);
    assert.deepEqual(await verifyChecksums(join(dir, 'out-t5'), await readManifest(join(dir, 'out-t5'))), []);
    const ck = await copyCheckpoint('t5-silu', 'flan_t5');
    const cfg = JSON.parse(await readFile(join(ck, 'config.json'), 'utf8'));
    cfg.text_config.dense_act_fn = 'silu';
    await writeFile(join(ck, 'config.json'), JSON.stringify(cfg));
    await assert.rejects(convertCheckpoint(ck, join(dir, 'out-t5-silu')), (e: any) =>
      e.code === 'checkpoint_unsupported' && /"silu"/.test(e.message) && e.message.includes('config.json'));
    await expectNoModelLeft(join(dir, 'out-t5-silu'));
  });

  it('another language model is refused, naming it and what is supported', async () => {
    const ck = await copyCheckpoint('llama-lm', 'flan_t5');
    const cfg = JSON.parse(await readFile(join(ck, 'config.json'), 'utf8'));
    cfg.text_config.model_type = 'llama';
    await writeFile(join(ck, 'config.json'), JSON.stringify(cfg));
    await assert.rejects(convertCheckpoint(ck, join(dir, 'out-llama-lm')), (e: any) =>
      e.code === 'checkpoint_unsupported' && /"llama"/.test(e.message) && /T5/.test(e.message));
  });

  it('a missing tensor is named, and the half-built folder is removed', async () => {
    const ck = await copyCheckpoint('missing');
    const name = 'language_model.model.decoder.layers.1.fc2.weight';
    await editHeader(join(ck, 'model.safetensors'), (h) => delete h[name]);
    const out = join(dir, 'out-missing');
    await assert.rejects(convertCheckpoint(ck, out), (e: any) => e.code === 'tensor_missing' && e.message.includes(name));
    await expectNoModelLeft(out);
  });

  it('a truncated safetensors file is refused, naming the file', async () => {
    const ck = await copyCheckpoint('truncated');
    const file = join(ck, 'model.safetensors');
    await truncate(file, 5_000_000);
    const out = join(dir, 'out-trunc');
    await assert.rejects(convertCheckpoint(ck, out), (e: any) => e.code === 'checkpoint_invalid' && e.message.includes(file) && /truncated/i.test(e.message));
    await expectNoModelLeft(out);
  });

  it('a header that lies about a shape is refused', async () => {
    const ck = await copyCheckpoint('lying');
    await editHeader(join(ck, 'model.safetensors'), (h) => { h['query_tokens'].shape = [1, 9, 32]; });
    await assert.rejects(convertCheckpoint(ck, join(dir, 'out-lie')), (e: any) => e.code === 'checkpoint_invalid' && e.message.includes('model.safetensors'));
  });

  it('an unknown dtype is refused, naming it', async () => {
    const ck = await copyCheckpoint('dtype');
    await editHeader(join(ck, 'model.safetensors'), (h) => { h['query_tokens'].dtype = 'X99'; });
    await assert.rejects(convertCheckpoint(ck, join(dir, 'out-dtype')), (e: any) => e.message.includes('X99') && e.message.includes('model.safetensors'));
  });

  it('a folder without config.json or weights says what it looked for', async () => {
    const empty = join(dir, 'empty');
    await cp(fixturePath('opt/config.json'), join(empty, 'config.json'));
    await assert.rejects(convertCheckpoint(empty, join(dir, 'out-empty')), (e: any) => e.code === 'checkpoint_invalid' && /model\.safetensors/.test(e.message));
    await assert.rejects(convertCheckpoint(join(dir, 'nowhere'), join(dir, 'out-nowhere')), (e: any) => /config\.json/.test(e.message));
  });
});

describe('interrupted conversions', () => {
  it('a conversion killed midway leaves no model folder, and its temp folder is cleaned by the next run', async () => {
    const { spawn } = await import('node:child_process');
    const { REPO_ROOT } = await import('../helpers/fixtures.ts');
    const out = join(dir, 'killed');
    const stale = join(dir, '.killed.partial-999999-1');
    await cp(fixturePath('opt/config.json'), join(stale, 'config.json'));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src/cli/photo-assistant.mjs'), 'convert', fixturePath('opt'), out], { stdio: 'pipe' });
    // Kill it as soon as it starts writing graphs.
    await new Promise<void>((resolve) => child.stderr.on('data', (d) => { if (/building/.test(String(d))) { child.kill('SIGKILL'); resolve(); } }));
    await new Promise((r) => child.on('close', r));
    assert.ok(!existsSync(join(out, 'model.json')), 'no manifest after a kill');
    await convertCheckpoint(fixturePath('opt'), out);
    const left = (await readdir(dir)).filter((f) => f.startsWith('.killed.partial-'));
    assert.deepEqual(left, [], 'stale partial folders removed');
    assert.ok(existsSync(join(out, 'model.json')));
  });
});
