// `photo-assistant models list | pull | verify | remove`: BLIP-2 from the Hugging Face Hub to a ready
// model folder (converted while it downloads), and the models already here.
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { AppError, toErrorData } from '../shared/errors.ts';
import { QUANTIZATIONS, type Quantization } from '../builder/quant-plan.ts';
import { HubClient, endpointFromEnv } from '../hub/hub-client.ts';
import { knownModels } from '../models/known-models.ts';
import { defaultModelsDir, listInstalled, removeModel, verifyModel } from '../models/model-store.ts';
import { planPull, pullModel } from '../models/pull.ts';
import type { PullProgress } from '../models/transfer-progress.ts';
import { intFlag } from './generation-flags.ts';

interface PullFlags {
  quant?: string; revision?: string; dir?: string; keepCheckpoint?: string; force?: boolean; json?: boolean;
  blockSize?: string; asymmetric?: boolean; accuracyLevel?: string; dryRun?: boolean;
}

export function addModelsCommands(program: Command): void {
  const models = program.command('models').description('download BLIP-2 from the Hugging Face Hub and manage model folders');
  const dirOption = `models folder (default: $PHOTO_ASSISTANT_MODELS or ${defaultModelsDir()})`;

  models.command('list')
    .description('the supported models and the model folders here')
    .option('--dir <dir>', dirOption)
    .option('--json', 'JSON output')
    .action(async (o: { dir?: string; json?: boolean }) => {
      const dir = o.dir ?? defaultModelsDir();
      const installed = await listInstalled(dir);
      if (o.json) {
        process.stdout.write(JSON.stringify({ dir, known: knownModels(), installed }) + '\n');
        return;
      }
      process.stdout.write(`Supported (photo-assistant models pull <alias>):\n`);
      for (const m of knownModels()) {
        process.stdout.write(`  ${m.alias.padEnd(22)} ${m.repo.padEnd(32)} ${m.role === 'caption' ? 'captions + chat ' : 'search + tags   '} ${m.recommendedQuant}${m.usable ? '' : '  (not yet runnable)'}${m.recommended ? '  recommended' : ''}\n`);
      }
      process.stdout.write(`\nIn ${dir}:\n`);
      if (!installed.length) process.stdout.write('  (none)\n');
      for (const m of installed) {
        const what = m.state === 'ready' ? m.label : m.state === 'partial' ? 'unfinished download (run the same pull again to resume, or models remove)' : `damaged: ${m.error?.message}`;
        process.stdout.write(`  ${m.name.padEnd(40)} ${gb(m.bytes).padStart(9)}  ${what}\n`);
      }
    });

  models.command('pull')
    .description('download a model (alias or repo id) and convert it while it downloads')
    .argument('<model>', 'alias from "models list" or a Hub repo id (owner/name)')
    .option('--quant <kind>', 'fp32, int8 or int4 (default: the model\'s recommended one)')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--dir <dir>', dirOption)
    .option('--keep-checkpoint <dir>', 'also keep the downloaded Hugging Face checkpoint in this folder')
    .option('--block-size <n>', 'quantization block size (power of two ≥ 16)')
    .option('--asymmetric', 'asymmetric quantization blocks')
    .option('--accuracy-level <n>', 'MatMulNBits accuracy level (4 or 0)')
    .option('--force', 'replace a model folder of the same name')
    .option('--dry-run', 'only say what the pull would download and need')
    .option('--json', 'progress and result as JSON lines')
    .action(async (ref: string, o: PullFlags) => {
      if (o.quant && !QUANTIZATIONS.includes(o.quant as Quantization)) throw new AppError('invalid_argument', `--quant must be one of ${QUANTIZATIONS.join(', ')}`);
      const hub = new HubClient({ endpoint: endpointFromEnv(), token: process.env.HF_TOKEN });
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop).once('SIGTERM', stop);
      const bar = o.json || !process.stderr.isTTY ? undefined : new PullBar();
      try {
        const opts = {
          hub, modelsDir: o.dir ?? defaultModelsDir(), revision: o.revision, keepCheckpoint: o.keepCheckpoint, force: o.force,
          quant: o.quant as Quantization | undefined,
          ...(o.blockSize ? { blockSize: intFlag(o.blockSize, '--block-size', 16) } : {}),
          ...(o.accuracyLevel ? { accuracyLevel: intFlag(o.accuracyLevel, '--accuracy-level', 0) } : {}),
          asymmetric: o.asymmetric, signal: controller.signal,
          onProgress: (p: PullProgress) => (o.json ? process.stdout.write(JSON.stringify({ event: 'progress', ...p }) + '\n') : bar?.update(p)),
        };
        if (o.dryRun) {
          const plan = await planPull(ref, opts);
          if (o.json) process.stdout.write(JSON.stringify({ event: 'plan', ...plan }) + '\n');
          else process.stdout.write(`${plan.repo}@${plan.commit.slice(0, 7)}: download ${gb(plan.downloadBytes)}, on disk ${gb(plan.diskBytes)}, RAM about ${gb(plan.ramBytes)}; ${gb(plan.freeBytes)} free\n`);
          return;
        }
        if (!o.json) process.stderr.write(`Connecting to ${hub.endpoint} for this download only.\n`);
        const r = await pullModel(ref, opts);
        bar?.stop();
        const label = `${r.manifest.source.repo ?? ref}@${(r.manifest.source.commit ?? '').slice(0, 7)} ${r.manifest.quantization.weights}`;
        if (o.json) process.stdout.write(JSON.stringify({ event: 'done', dir: r.dir, label, downloadedBytes: r.downloadedBytes, resumed: r.resumed, alreadyPresent: r.alreadyPresent }) + '\n');
        else process.stdout.write(r.alreadyPresent ? `${label} is already in ${r.dir}\n` : `${label} ready in ${r.dir}${r.resumed ? ' (resumed)' : ''}\n`);
      } catch (err) {
        bar?.stop();
        if (o.json) process.stdout.write(JSON.stringify({ event: 'error', error: toErrorData(err) }) + '\n');
        throw err;
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        await hub.close();
      }
    });

  models.command('verify')
    .description('recompute every checksum of a model folder')
    .argument('<model>', 'folder name in the models folder, or a path')
    .option('--dir <dir>', dirOption)
    .action(async (ref: string, o: { dir?: string }) => {
      const installed = await listInstalled(o.dir ?? defaultModelsDir());
      const hit = installed.find((m) => m.name === ref || m.label === ref);
      const dir = hit?.dir ?? ref;
      const m = await verifyModel(dir, (f) => process.stderr.write(`checking ${f}…\n`));
      process.stdout.write(`${dir}: all ${Object.keys(m.files).length} files match model.json\n`);
    });

  models.command('remove')
    .description('delete a model folder or an unfinished download')
    .argument('<model>', 'folder name (see models list)')
    .option('--dir <dir>', dirOption)
    .action(async (ref: string, o: { dir?: string }) => {
      const removed = await removeModel(o.dir ?? defaultModelsDir(), ref);
      process.stdout.write(`removed ${removed}\n`);
    });
}

const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;

/** Stage, bytes, rate and ETA on stderr. */
class PullBar {
  private readonly bar = new SingleBar({ stream: process.stderr, format: '{stage} {bar} {done}/{total} GB | {rate} MB/s | ETA {eta}', hideCursor: true }, Presets.shades_classic);
  private started = false;

  update(p: PullProgress): void {
    const payload = { stage: p.stage.padEnd(11), done: (p.bytesDone / 1e9).toFixed(2), total: (p.bytesTotal / 1e9).toFixed(2), rate: (p.rate / 1e6).toFixed(1), eta: p.etaSeconds === null ? '-' : `${p.etaSeconds}s` };
    if (!this.started) {
      this.bar.start(Math.max(1, p.bytesTotal), p.bytesDone, payload);
      this.started = true;
    } else {
      this.bar.setTotal(Math.max(1, p.bytesTotal));
      this.bar.update(p.bytesDone, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}
