// Hugging Face BLIP-2 checkpoint folder → model folder (ONNX graphs + external weights + model.json).
// Everything is written into a temporary sibling folder that is renamed into place only when
// complete, so an interrupted or failed conversion never leaves a folder that looks valid.
import { existsSync, rmSync, createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AppError } from '../shared/errors.ts';
import type { ModelManifest } from '../shared/model-manifest.ts';
import type { QuantSettings } from './quant-plan.ts';
import { Checkpoint } from './safetensors.ts';
import { layoutOf, TensorStream } from './safetensors-stream.ts';
import { ConversionWriter, planConversion, readConfigBytes, type CheckpointHeaders } from './stream-convert.ts';

export interface ConvertOptions extends QuantSettings {
  /** Replace an existing output folder. */
  force?: boolean;
  onProgress?: (event: { stage: string; part?: string; bytesDone?: number; bytesTotal?: number }) => void;
  /**
   * Remove the temp folder and exit(130) on SIGINT/SIGTERM while converting. Only for a process that
   * exists to convert (the CLI, the converter child): a host process must keep its own signal handling.
   * Default false; without it a killed run's temp folder is removed by the next run into that folder.
   */
  handleSignals?: boolean;
}

export async function convertCheckpoint(checkpointDir: string, outDir: string, opts: ConvertOptions = {}): Promise<ModelManifest> {
  const out = resolve(outDir);
  if (existsSync(out) && !opts.force) {
    throw new AppError('invalid_argument', `output folder already exists (use --force to replace it)`, { file: out });
  }
  const config = await readConfigBytes(checkpointDir);
  const ckpt = await Checkpoint.open(checkpointDir);
  let writer: ConversionWriter | undefined;
  await removeStalePartials(out);
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now()}`);
  const onSignal = () => {
    // An async write of the finishing steps may land in the folder while it is being removed
    // (ENOTEMPTY): retry, and exit whatever happens.
    try {
      rmSync(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch { /* the next conversion into this folder removes what is left (removeStalePartials) */ }
    process.exit(130);
  };
  if (opts.handleSignals) process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const conv = planConversion(headersOf(ckpt, config), opts);
    await mkdir(tmp, { recursive: true });
    writer = new ConversionWriter(conv, tmp);
    // Each shard is read once, front to back, exactly as a download would deliver it.
    const total = ckpt.files.reduce((a, f) => a + f.size, 0);
    let done = 0;
    for (const f of ckpt.files) {
      opts.onProgress?.({ stage: 'weights', part: basename(f.path), bytesDone: done, bytesTotal: total });
      const stream = new TensorStream(layoutOf(f.layout()), f.size, f.path, 0, writer.tensorBuffer);
      for await (const chunk of createReadStream(f.path, { highWaterMark: 4 << 20, end: f.size - 1 })) {
        for (const ev of stream.push(chunk as Buffer)) {
          if (ev.kind === 'tensor') writer.accept(ev.tensor, ev.bytes, f.path);
        }
      }
      if (!stream.done) throw new AppError('checkpoint_invalid', `truncated while reading: ended at byte ${stream.position} of ${f.size}`, { file: f.path });
      done += f.size;
    }
    opts.onProgress?.({ stage: 'graph' });
    const manifest = await writer.finish(checkpointDir, { checkpoint: basename(resolve(checkpointDir)) });
    if (existsSync(out)) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
    opts.onProgress?.({ stage: 'done' });
    return manifest;
  } catch (err) {
    writer?.close();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await ckpt.close();
  }
}

function headersOf(ckpt: Checkpoint, config: { bytes: Uint8Array; path: string }): CheckpointHeaders {
  const tensors: CheckpointHeaders['tensors'] = new Map();
  for (const f of ckpt.files) for (const [name, e] of f.layout()) tensors.set(name, { ...e, file: f.path });
  return { configBytes: config.bytes, configPath: config.path, tensors };
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

/** Whether a process of this pid is running (EPERM: it runs as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
