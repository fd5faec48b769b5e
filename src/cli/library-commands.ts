// `index`, `export` and `status`: the photo library from the command line.
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError, type ErrorData } from '../shared/errors.ts';
import { HostRetrievalEncoder } from '../jobs/host-retrieval-encoder.ts';
import { InferenceHost } from '../jobs/inference-host.ts';
import { exportCatalog } from '../library/catalog/export.ts';
import { RETRIEVAL_MODEL_SETTING } from '../library/catalog/settings.ts';
import { PhotoIndexer } from '../library/indexer/photo-indexer.ts';
import { PhotoAnalysis } from '../library/photo-analysis.ts';
import { stats } from '../library/catalog/stats.ts';
import { Library } from '../library/library.ts';
import { MetadataSync, type XmpMode } from '../library/metadata-sync.ts';
import type { PairPreference } from '../library/scan/companions.ts';
import type { SidecarNaming } from '../library/xmp/index.ts';
import { writeTxtCaptions } from '../library/txt-captions.ts';
import { type GenerationFlags, addGenerationFlags, generationOptions, sessionSettings } from './generation-flags.ts';
import { Progress } from './progress.ts';

interface IndexFlags extends GenerationFlags {
  db: string; model: string; watch?: boolean; xmp: string; sidecarName: string; prompt?: string; hierarchical?: boolean;
  retrievalModel?: string; pairPrefer?: string;
}

const say = (s: string) => process.stderr.write(`${s}\n`);
const problem = (e: ErrorData) => say(`photo-assistant: ${e.message}`);

export function addLibraryCommands(program: Command): void {
  addGenerationFlags(
    program
      .command('index')
      .description('catalog the photos in folders and caption them (resumable; Ctrl-C to stop)')
      .argument('<folder...>')
      .requiredOption('--db <catalog.db>', 'catalog file (created if missing)')
      .requiredOption('--model <dir>', 'converted captioning model folder')
      .option('--watch', 'keep watching the folders after the first pass')
      .option('--xmp <mode>', 'write captions to XMP sidecars: off | sidecar', 'sidecar')
      .option('--sidecar-name <naming>', 'ext (photo.jpg.xmp: digiKam, darktable, Immich) | base (photo.xmp: Lightroom)', 'ext')
      .option('--hierarchical', 'also write tags as lr:hierarchicalSubject (Lightroom keywords)')
      .option('--prompt <text>', 'caption prompt, e.g. "a photo of"')
      .option('--pair-prefer <half>', 'which half of a RAW+JPEG pair is the photo that is analysed: jpeg (default) | raw; the other half shares its caption and sidecar contents (remembered for the catalog)')
      .option('--retrieval-model <dir>', 'converted retrieval model folder (blip2-itm): also make the photos searchable and tag them (remembered for the catalog)'),
  ).action(async (folders: string[], o: IndexFlags) => {
    if (!['off', 'sidecar'].includes(o.xmp)) throw new AppError('invalid_argument', `--xmp must be off or sidecar, got "${o.xmp}"`);
    if (!['ext', 'base'].includes(o.sidecarName)) throw new AppError('invalid_argument', `--sidecar-name must be ext or base, got "${o.sidecarName}"`);
    if (o.pairPrefer !== undefined && !['jpeg', 'raw'].includes(o.pairPrefer)) throw new AppError('invalid_argument', `--pair-prefer must be jpeg or raw, got "${o.pairPrefer}"`);
    const captionOptions = { ...generationOptions(o), ...(o.prompt ? { prompt: o.prompt } : {}) };
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);

    const lib = Library.open(o.db, { problem, log: say });
    // The flag, else what an earlier run chose for this catalog (kept in it).
    if (o.pairPrefer !== undefined) lib.pairPreference = o.pairPrefer as PairPreference;
    const host = new InferenceHost();
    try {
      for (const f of folders) lib.addFolder(f);
      const scan = await lib.scanAll(abort.signal);
      const skipped = [scan.videos ? `${scan.videos} video(s) skipped` : '', scan.companions ? `${scan.companions} companion file(s) (Live Photo videos, RAW+JPEG halves)` : ''].filter(Boolean);
      say(`scanned ${scan.seen} photo file(s): ${scan.added} new, ${scan.moved} moved, ${scan.missing} missing, ${scan.problems} problem(s)${skipped.length ? `; ${skipped.join(', ')}` : ''}`);
      const metadata = new MetadataSync(lib.catalog, { xmp: o.xmp as XmpMode, sidecarNaming: o.sidecarName as SidecarNaming, hierarchicalSubjects: o.hierarchical }, problem);
      await metadata.syncAll();
      host.on('exit', (e) => e.reason === 'crash' && say(`inference worker crashed (${e.signal ?? e.code}); restarting`));
      await host.start();
      const model = await host.load(o.model, { ...sessionSettings(o), ...(o.lowMemory ? { lowMemory: true } : {}) });
      // The flag, or the retrieval model an earlier `index --retrieval-model` recorded for this catalog.
      const recorded = lib.catalog.getSetting<string>(RETRIEVAL_MODEL_SETTING);
      let retrievalDir = o.retrievalModel !== undefined ? resolve(o.retrievalModel) : recorded;
      if (o.retrievalModel === undefined && recorded && !existsSync(join(recorded, 'model.json'))) {
        say(`photo-assistant: the retrieval model recorded for this catalog is gone (${recorded}); photos are captioned but not made searchable until you pass --retrieval-model`);
        retrievalDir = undefined;
      }
      const retrieval = retrievalDir ? new HostRetrievalEncoder(host, await host.loadRetrieval(retrievalDir, sessionSettings(o))) : undefined;
      // Tags and query vectors of each photo; the vocabulary's prompts are embedded once per model.
      const analysis = retrieval ? await PhotoAnalysis.load(lib.catalog, retrieval) : undefined;
      // Recorded once the model loaded, so `search` finds it without --model.
      if (retrievalDir) lib.catalog.setSetting(RETRIEVAL_MODEL_SETTING, retrievalDir);
      const indexer = new PhotoIndexer({
        catalog: lib.catalog,
        inference: () => host,
        caption: () => ({ modelId: model.label, convertedAt: model.createdAt, options: captionOptions, lowMemory: model.lowMemory }),
        search: () => analysis && { analysis },
        writeSidecar: (id) => metadata.write(id),
        workerId: `pid-${process.pid}`,
      });
      // One bar for the caption queue, then one for photos captioned earlier that still lack vectors.
      const run = async () => {
        let bar: { task: string; progress: Progress } | undefined;
        const barFor = (task: string): Progress | undefined => {
          if (bar?.task === task) return bar.progress;
          bar?.progress.stop();
          const total = task === 'caption' ? lib.queue.pendingCount() + 1 : analysis ? lib.catalog.missingEmbeddingCount(analysis.modelId) : 0;
          bar = { task, progress: new Progress(total, task === 'caption' ? 'photos' : 'photos analysed for search') };
          return bar.progress;
        };
        await indexer.drain(abort.signal, (step) => {
          if (step.outcome === 'cancelled') return;
          const progress = barFor(step.task);
          if (step.outcome === 'failed') progress?.log(`failed: ${step.error.message}`, true);
          progress?.tick();
        });
        bar?.progress.stop();
      };
      await run();
      if (o.watch && !abort.signal.aborted) {
        let running = Promise.resolve();
        const work = () => { running = running.then(run); };
        const watcher = lib.watch({}, work);
        await watcher.ready();
        // Files that arrived between the first scan and the watcher being ready: a quick rescan
        // (unchanged files are not hashed again) so nothing falls in the gap.
        await lib.scanAll(abort.signal);
        work();
        say('watching for changes (Ctrl-C to stop)…');
        await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        await watcher.close();
        await running;
      }
      const s = stats(lib.catalog);
      say(`${s.captioned} of ${s.photos.active} photo(s) captioned; ${s.jobs.failed} failed${abort.signal.aborted && !o.watch ? '; interrupted, run again to resume' : ''}`);
      if (retrieval) say(`${lib.catalog.embeddingCount(retrieval.modelId)} photo(s) searchable`);
    } finally {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      await host.shutdown().catch(() => {});
      lib.close();
    }
    // Ctrl-C is how --watch ends normally; a one-shot run cut short exits 130 (run again to resume).
    if (abort.signal.aborted && !o.watch) process.exitCode = 130;
  });

  program
    .command('export')
    .description('export the catalog: json | csv, or txt caption files next to the images (dataset mode)')
    .requiredOption('--db <catalog.db>', 'catalog file')
    .requiredOption('--format <format>', 'json | csv | txt')
    .option('--out <path>', 'write to this file instead of standard output (json, csv)')
    .action(async (o: { db: string; format: string; out?: string }) => {
      const lib = Library.open(o.db, { problem, log: say });
      try {
        if (o.format === 'txt') {
          const n = await writeTxtCaptions(lib.catalog, problem);
          say(`wrote ${n} caption file(s)`);
          return;
        }
        if (o.format !== 'json' && o.format !== 'csv') throw new AppError('invalid_argument', `--format must be json, csv or txt, got "${o.format}"`);
        const text = exportCatalog(lib.catalog, o.format);
        if (o.out) await writeFile(o.out, text);
        else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      } finally {
        lib.close();
      }
    });

  program
    .command('status')
    .description('what the catalog holds: photos, folders, captions, queue, failures')
    .requiredOption('--db <catalog.db>', 'catalog file')
    .option('--json', 'machine-readable')
    .action((o: { db: string; json?: boolean }) => {
      const lib = Library.open(o.db, { problem, log: say });
      try {
        const s = stats(lib.catalog);
        if (o.json) return void process.stdout.write(`${JSON.stringify(s)}\n`);
        const out = [
          `catalog: ${s.file}`,
          `photos: ${s.photos.active} (${s.photos.missing} missing); files present ${s.files.present}, missing ${s.files.missing}, offline ${s.files.offline}`,
          `captioned: ${s.captioned} (${s.userCaptioned} by you)`,
          `queue: ${s.jobs.pending} pending, ${s.jobs.running} running, ${s.jobs.done} done, ${s.jobs.failed} failed`,
          ...s.folders.map((f) => `folder ${f.path}: ${f.status}, ${f.files.present} present, ${f.files.missing} missing, ${f.files.offline} offline`),
          ...s.failedJobs.map((j) => `failed: ${j.path}: ${j.error.message}`),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      } finally {
        lib.close();
      }
    });
}
