// A conversion in three steps, so weights can be converted while they download:
//   plan    build every graph once from the checkpoint's headers (shapes only) → which HF tensor
//           becomes which initializers of which graph (WeightPlan), and the exact bytes needed;
//   accept  each tensor as its bytes arrive, in the file's own order: widen to float32, apply its
//           recipes (transpose, quantize, float16), append the results to the graphs' data files;
//           hash vision tensors for the shared-ViT fingerprint. Returns a record to journal;
//   finish  build the graphs again, pointing at the stored results, and write model.json.
// Local folders (convert.ts) and Hub downloads (src/models/pull.ts) both go through it.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, type ModelManifest } from '../shared/model-manifest.ts';
import { DEFAULT_BLIP2_PREPROCESS, preprocessConfigFromHf } from '../shared/preprocess-config.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { type TensorShapes, lookupsFromHead } from './onnx/layers.ts';
import { Scratch } from './onnx/weights.ts';
import { type Blip2Config, parseConfig } from './blip2/spec.ts';
import { type TensorHash, VisionHasher } from './blip2/vision-hash.ts';
import { type FamilySpec, type ModelFamily, resolveFamily } from './registry.ts';
import { type QuantPlan, type QuantSettings, type Quantization, quantPlan } from './quant-plan.ts';
import { checkFloat, decodeFloat32, type Entry, readJsonFile } from './safetensors.ts';
import type { LaidOutTensor } from './safetensors-stream.ts';
import { generationDefaults } from './generation-config.ts';
import { WeightPlan } from './weight-plan.ts';
import { ALIGN, dataFileOf, type StoredOutput, WeightStore } from './weight-store.ts';

export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt',
  'special_tokens_map.json', 'added_tokens.json', 'processor_config.json', 'vocab.txt',
  // Copied so the runtime can say why a T5 folder without tokenizer.json cannot read text (it does not parse it).
  'spiece.model',
];
/** The small files a conversion reads besides the weights. */
export const CHECKPOINT_SIDE_FILES = ['config.json', 'generation_config.json', 'preprocessor_config.json', ...TOKENIZER_FILES];
const OPSETS = { '': 17, 'com.microsoft': 1 };
/** Tensors from this size on are gathered in reused buffers (ConversionWriter.tensorBuffer); stream chunks must be smaller. */
export const LARGE = 16 << 20;

export interface CheckpointHeaders {
  /** config.json as bytes (hashed into the manifest) and where it came from (for messages). */
  configBytes: Uint8Array;
  configPath: string;
  /** Every tensor of every shard, from the safetensors headers. */
  tensors: Map<string, Entry & { file: string }>;
}

export interface PlannedConversion {
  family: ModelFamily;
  architecture: string;
  spec: FamilySpec;
  quant: Quantization;
  plan: QuantPlan;
  weights: WeightPlan;
  shapes: TensorShapes;
  names: string[];
  configBytes: Uint8Array;
  /** Upper bound of the converted folder's size (weights with alignment + graphs + small files). */
  diskBytes: number;
}

export function planConversion(h: CheckpointHeaders, opts: QuantSettings): PlannedConversion {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(h.configBytes));
  } catch (cause) {
    throw new AppError('checkpoint_invalid', `model configuration is not valid JSON: ${(cause as Error).message}`, { file: h.configPath, cause });
  }
  const cfg: Blip2Config = parseConfig(json, h.configPath);
  const { family, architecture } = resolveFamily(cfg, h.configPath);
  let plan = quantPlan(opts);
  const shapes: TensorShapes = {
    has: (name) => h.tensors.has(name),
    shape: (name) => {
      const e = h.tensors.get(name);
      if (!e) throw new AppError('tensor_missing', `tensor "${name}" is not in the checkpoint`, { file: h.configPath.replace(/config\.json$/, '') });
      return [...e.shape];
    },
  };
  const spec = family.spec(shapes, cfg, h.configPath);
  if (plan.decoderOverrides) {
    // Named by the user: each must exist. The defaults name both families': keep the ones present.
    const o = plan.decoderOverrides;
    const exists = (end: string) => [...h.tensors.keys()].some((n) => n.startsWith('language_model.') && n.endsWith(`.${end}.weight`));
    const missing = o.suffixes.find((end) => !exists(end));
    if (missing && o.chosen) {
      throw new AppError('invalid_argument', `no language-model projection's name ends with "${missing}" (e.g. fc2, self_attn.v_proj)`, { file: h.configPath });
    }
    const present = o.suffixes.filter(exists);
    plan = { ...plan, decoderOverrides: present.length ? { ...o, suffixes: present } : undefined };
  }
  const weights = new WeightPlan(shapes);
  for (const part of family.parts) {
    const g = new GraphBuilder(`plan_${part.name}`); // thrown away: only the weight uses matter
    part.build({ g, src: shapes, weights: weights.weightsFor(part.name), ...partQuant(plan, part.role) }, spec);
  }
  for (const source of weights.sources()) {
    const e = h.tensors.get(source)!;
    checkFloat(e.dtype, source, e.file);
  }
  // Graphs are small (names and shapes); 16 MiB covers them and the tokenizer files.
  const diskBytes = weights.diskBytes(ALIGN) + 16 * 1024 * 1024;
  return { family, architecture, spec, quant: opts.quant ?? 'fp32', plan, weights, shapes, names: [...h.tensors.keys()], configBytes: h.configBytes, diskBytes };
}

function partQuant(plan: QuantPlan, role: 'vision' | 'qformer' | 'decoder') {
  return {
    quant: plan[role], headQuant: role === 'decoder' ? plan.lmHead : undefined, embedFp16: plan.embeddingsFp16,
    quantOverrides: role === 'decoder' ? plan.decoderOverrides : undefined,
  };
}

/** What one accepted tensor changed: journal it to resume after a kill without redoing it. */
export interface TensorRecord {
  source: string;
  outputs: StoredOutput[];
  vision?: TensorHash;
}

export interface SourceInfo {
  /** Folder name or repo id, for people. */
  checkpoint: string;
  repo?: string;
  revision?: string;
  commit?: string;
}

export class ConversionWriter {
  private readonly store: WeightStore;
  private readonly vision = new VisionHasher();
  private readonly seen = new Set<string>();
  private readonly scratch = new Scratch();
  private flip = 0;

  /** `resume`: the journal of an interrupted run into the same folder (data files are cut back to it). */
  constructor(readonly conv: PlannedConversion, readonly dir: string, resume?: { lengths: Record<string, number>; records: TensorRecord[] }) {
    this.store = new WeightStore(dir, conv.family.parts.map((p) => p.name), resume?.lengths);
    for (const r of resume?.records ?? []) this.restore(r);
  }

  /**
   * The buffer a streamed tensor of n bytes is gathered in (TensorStream's alloc). Large tensors
   * alternate between two reused buffers: one push of a chunk smaller than LARGE completes at most
   * one large tensor while starting the next, and the caller handles each push's events before the
   * next push. Small tensors get their own buffers.
   */
  readonly tensorBuffer = (n: number): Uint8Array => {
    if (n < LARGE) return new Uint8Array(new ArrayBuffer(n));
    this.flip ^= 1;
    return this.scratch.bytes(`raw${this.flip}`, n);
  };

  /** True when the tensor still has to be converted (not seen, and needed or fingerprinted). */
  wants(name: string): boolean {
    return !this.seen.has(name) && (this.conv.weights.usesOf(name).length > 0 || VisionHasher.covers(name));
  }

  /** Converts one tensor from its file bytes (`raw` must own its buffer from offset 0). */
  accept(t: Pick<LaidOutTensor, 'name' | 'dtype' | 'shape'>, raw: Uint8Array, file: string): TensorRecord | undefined {
    if (!this.wants(t.name)) return undefined;
    checkFloat(t.dtype, t.name, file);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const values = decodeFloat32(t.dtype, raw, t.dtype === 'F16' || t.dtype === 'BF16' ? this.scratch.f32('values', count) : undefined);
    const rec: TensorRecord = { source: t.name, outputs: [] };
    for (const use of this.conv.weights.usesOf(t.name)) {
      const bytes = use.recipe.apply(values, t.shape, this.scratch);
      use.outputs.forEach((o, i) => rec.outputs.push(this.store.put(use.part, o.name, o.type, o.dims, bytes[i])));
    }
    if (VisionHasher.covers(t.name)) rec.vision = this.vision.add(t.name, t.shape, values);
    this.seen.add(t.name);
    return rec;
  }

  dataLengths(): Record<string, number> {
    return this.store.dataLengths();
  }

  sync(): void {
    this.store.sync();
  }

  close(): void {
    this.store.close();
  }

  /** Tensors the graphs need that have not arrived (empty when the stream is complete). */
  missing(): string[] {
    return this.conv.weights.sources().filter((s) => !this.seen.has(s));
  }

  /**
   * Builds the graphs over the stored weights and writes model.json into the folder. `sideDir` holds
   * config, generation, preprocessor and tokenizer files.
   */
  async finish(sideDir: string, source: SourceInfo): Promise<ModelManifest> {
    const missing = this.missing();
    if (missing.length) throw new AppError('checkpoint_invalid', `the checkpoint ended without ${missing.length} tensors the model needs, e.g. "${missing[0]}"`);
    const { conv } = this;
    const files: ModelManifest['files'] = {};
    const graphs = {} as ModelManifest['graphs'];
    for (const part of conv.family.parts) {
      const g = new GraphBuilder(`blip2_${part.name}`);
      part.build({ g, src: conv.shapes, weights: this.store.weightsFor(part.name, conv.shapes), ...partQuant(conv.plan, part.role) }, conv.spec);
      const file = `${part.name}.onnx`;
      const bytes = g.serialize(OPSETS);
      await writeFile(join(this.dir, file), bytes);
      files[file] = { sha256: sha256(bytes), bytes: bytes.byteLength };
      graphs[part.name] = { file, data: dataFileOf(part.name) };
    }
    this.store.sync();
    this.store.close();
    for (const part of conv.family.parts) {
      const data = dataFileOf(part.name);
      files[data] = await hashFile(join(this.dir, data));
    }
    const visionSha256 = this.vision.digest(conv.names);
    const tokenizer: string[] = [];
    for (const name of TOKENIZER_FILES) {
      const from = join(sideDir, name);
      if (!existsSync(from)) continue;
      await copyFile(from, join(this.dir, name));
      await chmod(join(this.dir, name), 0o644); // a read-only source must not make the model folder read-only
      files[name] = await hashFile(join(this.dir, name));
      tokenizer.push(name);
    }
    const manifest = await manifestFor(conv, sideDir, source, { visionSha256, graphs, tokenizer, files });
    await writeFile(join(this.dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }

  private restore(r: TensorRecord): void {
    for (const o of r.outputs) this.store.restore(o);
    if (r.vision) this.vision.restore(r.source, r.vision);
    this.seen.add(r.source);
  }
}

async function manifestFor(conv: PlannedConversion, sideDir: string, source: SourceInfo,
  out: { visionSha256?: string; graphs: ModelManifest['graphs']; tokenizer: string[]; files: ModelManifest['files'] }): Promise<ModelManifest> {
  const { spec, family, plan, quant } = conv;
  const preprocess = await readPreprocess(sideDir);
  if (preprocess.width !== spec.vision.imageSize || preprocess.height !== spec.vision.imageSize) {
    throw new AppError('checkpoint_invalid', `preprocessor size ${preprocess.width}x${preprocess.height} does not match the vision encoder's ${spec.vision.imageSize}px input`, { file: join(sideDir, 'preprocessor_config.json') });
  }
  const generation = await generationDefaults(sideDir);
  const roles = [...new Set(family.parts.map((p) => p.role))];
  const quantParts: ModelManifest['quantization']['parts'] = {};
  for (const r of roles) quantParts[r] = plan[r] ?? null;
  if (roles.includes('decoder')) quantParts.lmHead = plan.lmHead ?? null;
  // Decoder projections kept in 8 bits are listed as parts "decoder:<module path end>".
  for (const end of plan.decoderOverrides?.suffixes ?? []) quantParts[`decoder:${end}`] = plan.decoderOverrides!.policy;
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    kind: family.kind,
    architecture: conv.architecture,
    createdAt: new Date().toISOString(),
    source: {
      checkpoint: source.checkpoint, configSha256: sha256(conv.configBytes),
      ...(source.repo ? { repo: source.repo } : {}), ...(source.revision ? { revision: source.revision } : {}), ...(source.commit ? { commit: source.commit } : {}),
      ...(out.visionSha256 ? { visionSha256: out.visionSha256 } : {}),
    },
    quantization: {
      weights: quant,
      parts: quantParts,
      // OPT's tied table is looked up in the LM head's 8-bit copy when the head has one (opt-decoder.ts).
      embeddings: family.kind === 'blip2-opt' && lookupsFromHead(plan.lmHead) ? 'int8' : plan.embeddingsFp16 ? 'fp16' : 'fp32',
      note: quant === 'fp32'
        ? 'all weights float32 (F16/BF16 checkpoints are widened)'
        : 'the projection matrices listed in parts: block-quantized weights (com.microsoft::MatMulNBits), or per-channel int8 weights with activations quantized per call (com.microsoft::DynamicQuantizeMatMul) where kernel says so; token embedding table as embeddings says (int8 = the LM head\'s 8-bit copy); position embeddings, norms and biases float32',
    },
    shapes: {
      vision: { ...spec.vision }, qformer: { ...spec.qformer },
      ...(spec.language ? { language: { ...spec.language } } : {}),
      ...(spec.retrieval ? { retrieval: { ...spec.retrieval } } : {}),
      imageSize: spec.vision.imageSize, queries: spec.qformer.queries,
    },
    tokens: {
      bos: generation.bos ?? spec.tokens.bos, eos: generation.eos ?? spec.tokens.eos, pad: generation.pad ?? spec.tokens.pad,
      ...(spec.tokens.decoderStart === undefined ? {} : { decoderStart: generation.decoderStart ?? spec.tokens.decoderStart }),
    },
    preprocess,
    generation: generation.options,
    graphs: out.graphs,
    tokenizer: out.tokenizer,
    files: out.files,
  };
}

async function readPreprocess(dir: string): Promise<ModelManifest['preprocess']> {
  const path = join(dir, 'preprocessor_config.json');
  if (!existsSync(path)) return { ...DEFAULT_BLIP2_PREPROCESS };
  return preprocessConfigFromHf(await readJsonFile(path, 'image preprocessing configuration'), path);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 and size of a file, read as a stream (weights files reach gigabytes). */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return { sha256: hash.digest('hex'), bytes: (await stat(path)).size };
}

export async function readConfigBytes(dir: string): Promise<{ bytes: Uint8Array; path: string }> {
  const path = join(dir, 'config.json');
  const bytes = await readFile(path).catch((cause) => {
    throw new AppError('checkpoint_invalid', `missing config.json: not a Hugging Face checkpoint folder`, { file: path, cause });
  });
  return { bytes, path };
}
