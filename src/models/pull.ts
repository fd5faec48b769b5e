// `models pull`: a BLIP-2 checkpoint from the Hugging Face Hub to a ready model folder, converting
// while it downloads. Only what the converter reads is fetched (config, generation, preprocessor and
// tokenizer files; safetensors shards and their index; never .bin). Each shard is one sequential
// Range stream whose tensors are converted the moment their bytes are in (stream-convert.ts), so the
// fp32 checkpoint never lands on disk unless asked for. Its sha256 is checked against the Hub's LFS
// oid as it streams. Work happens in a hidden `.<name>.pull` folder with a journal (pull-journal.ts):
// a kill, a dropped connection or a full disk resumes where it stopped. The model folder appears,
// renamed into place, only when complete with its manifest written last.
// A repo that holds one of our converted models (model.json at its root) is downloaded as is and
// checked against the manifest's checksums (pull-preconverted.ts).
import { existsSync, openSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createSHA256, type IHasher } from 'hash-wasm';
import type { PullPlan } from '../shared/app-types.ts';
import { AppError } from '../shared/errors.ts';
import { MANIFEST_FILE, type ModelManifest } from '../shared/model-manifest.ts';
import { readManifest } from '../runtime/model-folder.ts';
import { type QuantSettings, quantPlan } from '../builder/quant-plan.ts';
import { headerLength, parseHeader, type Entry } from '../builder/safetensors.ts';
import { layoutOf, TensorStream } from '../builder/safetensors-stream.ts';
import { CHECKPOINT_SIDE_FILES, ConversionWriter, planConversion, type CheckpointHeaders, type PlannedConversion } from '../builder/stream-convert.ts';
import type { HubClient, HubFile, RepoSnapshot } from '../hub/hub-client.ts';
import { resolveModelRef, ramEstimateBytes } from './known-models.ts';
import { folderNameFor, pullWorkDir } from './model-store.ts';
import { PullJournal } from './pull-journal.ts';
import { pullPreconverted } from './pull-preconverted.ts';
import { type PullProgress, RateMeter } from './transfer-progress.ts';
import { WorkFolder } from './work-folder.ts';
import { checkFreeSpace, freeBytes } from './disk-space.ts';

export interface PullOptions extends QuantSettings {
  hub: HubClient;
  modelsDir: string;
  revision?: string;
  /** Also keep the downloaded checkpoint (its shards and small files) in this folder. */
  keepCheckpoint?: string;
  /** Replace a ready model folder of the same name. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
}

export interface PullResult {
  dir: string;
  manifest: ModelManifest;
  /** Bytes fetched by this run (less than the total when it resumed). */
  downloadedBytes: number;
  resumed: boolean;
  alreadyPresent: boolean;
}

/** What a pull will cost, before it starts (shown by the app and by `models pull --dry-run`). */
export type { PullPlan };

export async function planPull(ref: string, opts: PullOptions): Promise<PullPlan> {
  const { repo } = resolveModelRef(ref);
  const snap = await opts.hub.snapshot(repo, opts.revision ?? 'main', opts.signal);
  const free = await freeBytes(opts.modelsDir);
  if (snap.files.some((f) => f.path === MANIFEST_FILE)) {
    const total = snap.files.filter((f) => !f.path.startsWith('.')).reduce((a, f) => a + f.size, 0);
    return { repo, commit: snap.commit, name: folderNameFor(repo, undefined), preconverted: true, downloadBytes: total, diskBytes: total, ramBytes: ramEstimateBytes(total), freeBytes: free };
  }
  const job = await CheckpointPull.prepare(snap, { ...opts, quant: quantFor(ref, opts) });
  await job.discardIfUnstarted();
  return { repo, commit: snap.commit, name: job.name, preconverted: false, downloadBytes: job.downloadBytes, diskBytes: job.conv.diskBytes, ramBytes: ramEstimateBytes(job.conv.diskBytes), freeBytes: free };
}

export async function pullModel(ref: string, opts: PullOptions): Promise<PullResult> {
  try {
    return await pull(ref, opts);
  } catch (err) {
    // Whatever ran out of space (weights, journal, small files), say it as such: the work is kept.
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as { cause?: { code?: string } }).cause?.code === 'ENOSPC') {
      throw new AppError('disk_full', `the disk is full in ${opts.modelsDir}: free some space and pull again to resume`, { file: opts.modelsDir, cause: err });
    }
    throw err;
  }
}

async function pull(ref: string, opts: PullOptions): Promise<PullResult> {
  const { repo } = resolveModelRef(ref);
  const revision = opts.revision ?? 'main';
  opts.onProgress?.({ stage: 'resolving', repo, bytesDone: 0, bytesTotal: 0, rate: 0, etaSeconds: null });
  await mkdir(opts.modelsDir, { recursive: true });
  const snap = await opts.hub.snapshot(repo, revision, opts.signal);
  if (snap.files.some((f) => f.path === MANIFEST_FILE)) return pullPreconverted(snap, opts);
  const quant = quantFor(ref, opts);
  const name = folderNameFor(repo, quant);
  const out = join(opts.modelsDir, name);
  const present = await existing(out, snap.commit, quant);
  if (present && !opts.force) return { dir: out, manifest: present, downloadedBytes: 0, resumed: false, alreadyPresent: true };
  if (existsSync(out) && !opts.force) {
    throw new AppError('invalid_argument', `${out} already exists and is not ${repo}@${snap.commit.slice(0, 7)} ${quant}: use --force to replace it`, { file: out });
  }
  const job = await CheckpointPull.prepare(snap, { ...opts, quant });
  return job.run(out);
}

function quantFor(ref: string, opts: QuantSettings): NonNullable<QuantSettings['quant']> {
  return opts.quant ?? resolveModelRef(ref).known?.recommendedQuant ?? 'int4';
}

/** A ready folder of the same commit and quantization, or undefined. */
async function existing(out: string, commit: string, quant: string): Promise<ModelManifest | undefined> {
  if (!existsSync(join(out, MANIFEST_FILE))) return undefined;
  const m = await readManifest(out).catch(() => undefined);
  return m && m.source.commit === commit && m.quantization.weights === quant ? m : undefined;
}

interface Shard extends HubFile { entries: Map<string, Entry> }

class CheckpointPull {
  private downloaded = 0;
  private readonly meter = new RateMeter();
  private lastEmit = 0;

  private constructor(
    readonly snap: RepoSnapshot,
    readonly opts: PullOptions & { quant: NonNullable<QuantSettings['quant']> },
    readonly name: string,
    readonly work: WorkFolder,
    readonly shards: Shard[],
    readonly conv: PlannedConversion,
  ) {}

  /** After a plan only: nothing converted yet, so the work folder is not an unfinished download. */
  async discardIfUnstarted(): Promise<void> {
    await this.work.release();
    if (!existsSync(this.work.path('journal.jsonl'))) await rm(this.work.dir, { recursive: true, force: true });
  }

  get downloadBytes(): number {
    return this.shards.reduce((a, s) => a + s.size, 0);
  }

  /** Small files and shard headers fetched, the conversion planned (fails here for unsupported models). */
  static async prepare(snap: RepoSnapshot, opts: PullOptions & { quant: NonNullable<QuantSettings['quant']> }): Promise<CheckpointPull> {
    const { hub, signal } = opts;
    const name = folderNameFor(snap.repo, opts.quant);
    const byPath = new Map(snap.files.map((f) => [f.path, f]));
    if (!byPath.has('config.json')) {
      throw new AppError('checkpoint_invalid', `${snap.repo} has no config.json: not a Hugging Face Transformers model`);
    }
    const side = CHECKPOINT_SIDE_FILES.concat('model.safetensors.index.json').reduce((a, p) => a + (byPath.get(p)?.size ?? 0), 0);
    checkFreeSpace(side + (1 << 20), await freeBytes(opts.modelsDir), opts.modelsDir);
    const work = await WorkFolder.open(pullWorkDir(opts.modelsDir, name), {
      // The resolved plan, not the flags: a pull resumed after the defaults changed (int4's block
      // sizes did) starts over instead of mixing tensors packed two ways.
      repo: snap.repo, commit: snap.commit, plan: quantPlan(opts), keep: opts.keepCheckpoint ?? null,
    });
    try {
      for (const path of CHECKPOINT_SIDE_FILES.filter((p) => byPath.has(p))) {
        await work.fetchSmall(hub, snap, byPath.get(path)!, signal);
      }
      const shardNames = await shardList(snap, byPath, work, hub, signal);
      const shards: Shard[] = [];
      for (const path of shardNames) {
        const file = byPath.get(path)!;
        const first8 = await hub.readRange(snap.repo, snap.commit, path, 0, Math.min(8, file.size), signal);
        const n = headerLength(first8, file.size, `${snap.repo}/${path}`);
        const header = await hub.readRange(snap.repo, snap.commit, path, 8, 8 + n, signal);
        shards.push({ ...file, entries: parseHeader(header, file.size, `${snap.repo}/${path}`).entries });
      }
      const tensors: CheckpointHeaders['tensors'] = new Map();
      for (const s of shards) for (const [t, e] of s.entries) tensors.set(t, { ...e, file: `${snap.repo}/${s.path}` });
      const configBytes = await readFile(work.sourcePath('config.json'));
      const conv = planConversion({ configBytes, configPath: `${snap.repo}/config.json`, tensors }, opts);
      return new CheckpointPull(snap, opts, name, work, shards, conv);
    } catch (err) {
      await work.release();
      throw err;
    }
  }

  async run(out: string): Promise<PullResult> {
    const { opts, snap, work } = this;
    const journal = new PullJournal(work.path('journal.jsonl'));
    const state = journal.read();
    const resumed = state.records.length > 0 || state.done.size > 0;
    const written = Object.values(state.lengths ?? {}).reduce((a, b) => a + b, 0);
    const keepBytes = opts.keepCheckpoint ? this.downloadBytes : 0;
    checkFreeSpace(this.conv.diskBytes - written + keepBytes, await freeBytes(opts.modelsDir), opts.modelsDir);
    const writer = new ConversionWriter(this.conv, work.dir, state.lengths ? { lengths: state.lengths, records: state.records } : undefined);
    let base = 0;
    try {
      for (const shard of this.shards) {
        if (!state.done.has(shard.path)) await this.streamShard(shard, writer, journal, state.partial.get(shard.path), base);
        base += shard.size;
      }
      this.emit('finishing', undefined, base, true);
      const manifest = await writer.finish(work.sourceDir, { checkpoint: snap.repo, repo: snap.repo, revision: snap.revision, commit: snap.commit });
      if (opts.keepCheckpoint) await work.keepSideFiles(opts.keepCheckpoint);
      await work.clearBookkeeping();
      if (existsSync(out)) await rm(out, { recursive: true, force: true });
      await rename(work.dir, out);
      this.emit('done', undefined, base, true);
      return { dir: out, manifest, downloadedBytes: this.downloaded, resumed, alreadyPresent: false };
    } finally {
      writer.close();
      await work.release();
    }
  }

  /** One shard as one Range stream from where it stopped; reconnects from the current byte on drops. */
  private async streamShard(shard: Shard, writer: ConversionWriter, journal: PullJournal, from: { end: number; hash?: string } | undefined, base: number): Promise<void> {
    const { opts, snap } = this;
    const display = `${snap.repo}/${shard.path}`;
    const stream = new TensorStream(layoutOf(shard.entries), shard.size, display, from?.end ?? 0, writer.tensorBuffer);
    const hasher = shard.sha256 ? await resumableSha256(from?.hash) : undefined;
    if (opts.keepCheckpoint) await mkdir(opts.keepCheckpoint, { recursive: true });
    const keep = opts.keepCheckpoint ? keepFile(join(opts.keepCheckpoint, shard.path), stream.position) : undefined;
    let failures = 0;
    try {
      while (!stream.done) {
        const before = stream.position;
        try {
          const { body } = await opts.hub.open(snap.repo, snap.commit, shard.path, stream.position, opts.signal);
          for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
            for (const ev of stream.push(chunk)) {
              if (ev.kind === 'bytes') {
                hasher?.update(ev.bytes);
                if (keep !== undefined) writeAll(keep, ev.bytes, ev.position);
                continue;
              }
              const rec = writer.accept(ev.tensor, ev.bytes, display);
              journal.append({ t: 'tensor', shard: shard.path, end: ev.end, ...(hasher ? { hash: Buffer.from(hasher.save()).toString('base64') } : {}), lengths: writer.dataLengths(), rec: rec ?? null });
            }
            this.downloaded += chunk.byteLength;
            this.emit('downloading', shard.path, base + stream.position);
            if (opts.signal?.aborted) throw new AppError('cancelled', 'download cancelled');
          }
          if (!stream.done) throw new Error(`the connection closed at byte ${stream.position} of ${shard.size}`);
        } catch (err) {
          if (opts.signal?.aborted) throw new AppError('cancelled', 'download cancelled');
          if (err instanceof AppError && err.code !== 'network_error') throw err;
          failures = stream.position > before ? 1 : failures + 1;
          if (failures > 5) throw new AppError('network_error', `${display}: ${(err as Error).message}; stopped after ${failures} tries (run the pull again to resume)`);
          await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** failures, 5000)));
        }
      }
    } finally {
      if (keep !== undefined) closeSync(keep);
    }
    writer.sync();
    const sha256 = hasher?.digest('hex');
    if (shard.sha256 && sha256 !== shard.sha256) {
      journal.dropShard(shard.path);
      throw new AppError('integrity_failed', `sha256 ${sha256} does not match the Hub's ${shard.sha256}: its converted output was discarded; run the pull again to fetch it anew`, { file: display });
    }
    journal.append({ t: 'shard', shard: shard.path, ...(sha256 ? { sha256 } : {}) });
  }

  private emit(stage: PullProgress['stage'], file: string | undefined, done: number, force = false): void {
    const now = Date.now();
    this.meter.add(this.downloaded);
    if (!force && now - this.lastEmit < 200) return;
    this.lastEmit = now;
    const total = this.downloadBytes;
    this.opts.onProgress?.({ stage, repo: this.snap.repo, ...(file ? { file } : {}), bytesDone: done, bytesTotal: total, rate: this.meter.rate(), etaSeconds: this.meter.eta(total - done) });
  }
}

/** The safetensors shards to stream: the index's shards, or model.safetensors; never .bin. */
async function shardList(snap: RepoSnapshot, byPath: Map<string, HubFile>, work: WorkFolder, hub: HubClient, signal?: AbortSignal): Promise<string[]> {
  if (byPath.has('model.safetensors.index.json')) {
    await work.fetchSmall(hub, snap, byPath.get('model.safetensors.index.json')!, signal);
    const index = JSON.parse(await readFile(work.sourcePath('model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map ?? {}))];
    if (!shards.length) throw new AppError('checkpoint_invalid', `${snap.repo}/model.safetensors.index.json lists no shards`);
    for (const s of shards) {
      if (!byPath.has(s)) throw new AppError('checkpoint_invalid', `${snap.repo}/model.safetensors.index.json names "${s}", which the repo does not have`);
    }
    return shards.sort();
  }
  if (byPath.has('model.safetensors')) return ['model.safetensors'];
  if ([...byPath.keys()].some((p) => p.endsWith('.bin'))) {
    throw new AppError('checkpoint_unsupported', `${snap.repo}@${snap.commit.slice(0, 7)} has only PyTorch .bin weights; Photo Assistant converts safetensors checkpoints only`);
  }
  throw new AppError('checkpoint_invalid', `${snap.repo}@${snap.commit.slice(0, 7)} has no model.safetensors or model.safetensors.index.json`);
}

async function resumableSha256(state?: string): Promise<IHasher> {
  const h = await createSHA256();
  h.init();
  if (state) h.load(Buffer.from(state, 'base64'));
  return h;
}

function keepFile(path: string, position: number): number {
  const fd = openSync(path, existsSync(path) ? 'r+' : 'w');
  ftruncateSync(fd, position);
  return fd;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

