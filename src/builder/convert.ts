// Hugging Face BLIP-2 checkpoint folder → model folder (ONNX graphs + external weights + model.json).
// Everything is written into a temporary sibling folder that is renamed into place only when
// complete, so an interrupted or failed conversion never leaves a folder that looks valid.
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, type ModelManifest } from '../shared/model-manifest.ts';
import { DEFAULT_BLIP2_PREPROCESS, preprocessConfigFromHf } from '../runtime/image/preprocess.ts';
import { ExternalDataWriter } from './onnx/external-data.ts';
import { GraphBuilder } from './onnx/graph-builder.ts';
import type { TensorSource } from './onnx/layers.ts';
import { parseConfig } from './blip2/spec.ts';
import { VisionHasher } from './blip2/vision-hash.ts';
import { resolveFamily } from './registry.ts';
import { type QuantSettings, quantPlan } from './quant-plan.ts';
import { Checkpoint, readJsonFile } from './safetensors.ts';
import { generationDefaults } from './generation-config.ts';

export interface ConvertOptions extends QuantSettings {
  /** Replace an existing output folder. */
  force?: boolean;
  onProgress?: (event: { stage: string; part?: string }) => void;
  /**
   * Remove the temp folder and exit(130) on SIGINT/SIGTERM while converting. Only for a process that
   * exists to convert (the CLI, the converter child): a host process must keep its own signal handling.
   * Default false; without it a killed run's temp folder is removed by the next run into that folder.
   */
  handleSignals?: boolean;
}

const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt',
  'special_tokens_map.json', 'added_tokens.json', 'processor_config.json', 'vocab.txt',
];
const OPSETS = { '': 17, 'com.microsoft': 1 };

export async function convertCheckpoint(checkpointDir: string, outDir: string, opts: ConvertOptions = {}): Promise<ModelManifest> {
  const quant = opts.quant ?? 'fp32';
  const plan = quantPlan(opts);
  const out = resolve(outDir);
  if (existsSync(out) && !opts.force) {
    throw new AppError('invalid_argument', `output folder already exists (use --force to replace it)`, { file: out });
  }
  const configPath = join(checkpointDir, 'config.json');
  const cfgBytes = await readFile(configPath).catch((cause) => {
    throw new AppError('checkpoint_invalid', `missing config.json: not a Hugging Face checkpoint folder`, { file: configPath, cause });
  });
  const cfg = parseConfig(await readJsonFile(configPath, 'model configuration'), configPath);
  const { family, architecture } = resolveFamily(cfg, configPath);

  const ckpt = await Checkpoint.open(checkpointDir);
  await removeStalePartials(out);
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now()}`);
  const onSignal = () => {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  if (opts.handleSignals) process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const raw = tensorSource(ckpt);
    const visionHash = new VisionHasher();
    const src = visionHash.wrap(raw);
    const spec = family.spec(src, cfg, configPath);
    await mkdir(tmp, { recursive: true });
    const files: ModelManifest['files'] = {};
    const graphs = {} as ModelManifest['graphs'];
    for (const part of family.parts) {
      opts.onProgress?.({ stage: 'graph', part: part.name });
      const file = `${part.name}.onnx`;
      const data = new ExternalDataWriter(join(tmp, `${file}.data`));
      let dataHash: string;
      try {
        const g = new GraphBuilder(`blip2_${part.name}`, data);
        part.build({ g, src, quant: plan[part.role], headQuant: part.role === 'decoder' ? plan.lmHead : undefined, embedFp16: plan.embeddingsFp16 }, spec);
        const bytes = g.serialize(OPSETS);
        await writeFile(join(tmp, file), bytes);
        files[file] = { sha256: sha256(bytes), bytes: bytes.byteLength };
      } finally {
        dataHash = data.finish();
      }
      files[`${file}.data`] = { sha256: dataHash, bytes: data.bytesWritten };
      graphs[part.name] = { file, data: `${file}.data` };
    }

    opts.onProgress?.({ stage: 'metadata' });
    const visionSha256 = visionHash.digest(raw, ckpt.names());
    const tokenizer: string[] = [];
    for (const name of TOKENIZER_FILES) {
      const from = join(checkpointDir, name);
      if (!existsSync(from)) continue;
      await copyFile(from, join(tmp, name));
      await chmod(join(tmp, name), 0o644); // a read-only source must not make the model folder read-only
      files[name] = { sha256: sha256(await readFile(from)), bytes: (await stat(from)).size };
      tokenizer.push(name);
    }
    const preprocess = await readPreprocess(checkpointDir);
    if (preprocess.width !== spec.vision.imageSize || preprocess.height !== spec.vision.imageSize) {
      throw new AppError('checkpoint_invalid', `preprocessor size ${preprocess.width}x${preprocess.height} does not match the vision encoder's ${spec.vision.imageSize}px input`, { file: join(checkpointDir, 'preprocessor_config.json') });
    }
    const generation = await generationDefaults(checkpointDir);
    const eos = generation.eos ?? spec.tokens.eos;
    const roles = [...new Set(family.parts.map((p) => p.role))];
    const quantParts: ModelManifest['quantization']['parts'] = {};
    for (const r of roles) quantParts[r] = plan[r] ?? null;
    if (roles.includes('decoder')) quantParts.lmHead = plan.lmHead ?? null;
    const manifest: ModelManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      kind: family.kind,
      architecture,
      createdAt: new Date().toISOString(),
      source: { checkpoint: basename(resolve(checkpointDir)), configSha256: sha256(cfgBytes), ...(visionSha256 ? { visionSha256 } : {}) },
      quantization: {
        weights: quant,
        parts: quantParts,
        embeddings: plan.embeddingsFp16 ? 'fp16' : 'fp32',
        note: quant === 'fp32'
          ? 'all weights float32 (F16/BF16 checkpoints are widened)'
          : 'weight-only block quantization (com.microsoft::MatMulNBits) of the projection matrices listed in parts; token embedding table float16; position embeddings, norms and biases float32',
      },
      shapes: {
        vision: { ...spec.vision }, qformer: { ...spec.qformer },
        ...(spec.language ? { language: { ...spec.language } } : {}),
        ...(spec.retrieval ? { retrieval: { ...spec.retrieval } } : {}),
        imageSize: spec.vision.imageSize, queries: spec.qformer.queries,
      },
      tokens: {
        bos: generation.bos ?? spec.tokens.bos, eos, pad: generation.pad ?? spec.tokens.pad,
        ...(typeof cfg.image_token_index === 'number' ? { imageToken: cfg.image_token_index } : {}),
      },
      preprocess,
      generation: generation.options,
      graphs,
      tokenizer,
      files,
    };
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    if (existsSync(out)) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
    opts.onProgress?.({ stage: 'done' });
    return manifest;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await ckpt.close();
  }
}

/** Temp folders of conversions that were killed (their process is gone) are removed. */
async function removeStalePartials(out: string): Promise<void> {
  const prefix = `.${basename(out)}.partial-`;
  const entries = await readdir(dirname(out)).catch(() => [] as string[]);
  for (const name of entries) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (pid && pid !== process.pid && !isAlive(pid)) await rm(join(dirname(out), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tensorSource(ckpt: Checkpoint): TensorSource {
  return {
    has: (name) => ckpt.has(name),
    shape: (name) => ckpt.info(name).shape,
    read: (name) => ckpt.readFloat32(name),
  };
}

async function readPreprocess(dir: string): Promise<ModelManifest['preprocess']> {
  const path = join(dir, 'preprocessor_config.json');
  if (!existsSync(path)) return { ...DEFAULT_BLIP2_PREPROCESS };
  return preprocessConfigFromHf(await readJsonFile(path, 'image preprocessing configuration'), path);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
