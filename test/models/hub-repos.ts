// Repo folders for the Hub emulator, made from the shared fixture checkpoints: the OPT checkpoint as
// published (plus a decoy .bin that must never be fetched), the same split into two shards with an
// index, and broken variants (unsupported architecture, .bin only).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/builder/safetensors.ts';
import { encodeSafetensors, type TensorSpec } from '../helpers/safetensors-writer.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const OPT_FILES = [
  'config.json', 'generation_config.json', 'preprocessor_config.json', 'processor_config.json', 'added_tokens.json',
  'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'model.safetensors',
];

/** The OPT fixture as a Hub repo: its files (copied) plus a decoy pytorch_model.bin and a README. */
export async function optRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of OPT_FILES) await copyFile(fixturePath(`opt/${f}`), join(dir, f));
  await writeFile(join(dir, 'pytorch_model.bin'), Buffer.alloc(64 * 1024, 1));
  await writeFile(join(dir, 'README.md'), '# tiny BLIP-2 for tests\n');
  return dir;
}

/** The same weights in two shards + model.safetensors.index.json (as HF writes big checkpoints). */
export async function shardedOptRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of OPT_FILES.filter((f) => f !== 'model.safetensors')) await copyFile(fixturePath(`opt/${f}`), join(dir, f));
  const src = await SafetensorsFile.open(fixturePath('opt/model.safetensors'));
  const names = src.names().sort();
  const half = Math.ceil(names.length / 2);
  const weightMap: Record<string, string> = {};
  for (const [k, part] of [names.slice(0, half), names.slice(half)].entries()) {
    const file = `model-0000${k + 1}-of-00002.safetensors`;
    const tensors: Record<string, TensorSpec> = {};
    for (const n of part) {
      const info = src.info(n);
      tensors[n] = { dtype: info.dtype, shape: info.shape, data: src.readRaw(n) };
      weightMap[n] = file;
    }
    await writeFile(join(dir, file), encodeSafetensors(tensors));
  }
  await src.close();
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return dir;
}

/** A repo whose config names an architecture we do not convert. */
export async function unsupportedRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify({ architectures: ['LlavaForConditionalGeneration'], model_type: 'llava' }));
  await copyFile(fixturePath('opt/model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

/** A repo with only PyTorch weights. */
export async function binOnlyRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), await readFile(fixturePath('opt/config.json')));
  await writeFile(join(dir, 'pytorch_model.bin'), Buffer.alloc(4096, 2));
  return dir;
}
