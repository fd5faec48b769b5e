// The app's settings in <userDataDir>/settings.json: defaults for what is missing, each field checked
// on read (a hand-edited or older file keeps what is valid and falls back per field, never fails the
// start), and written atomically (temporary file + rename) so a crash never leaves half a file.
import { randomBytes } from 'node:crypto';
import { totalmem } from 'node:os';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { AppSettings } from '../../src/shared/app-types.ts';
import { AppError } from '../../src/shared/errors.ts';

export const SETTINGS_FILE = 'settings.json';

export const DEFAULT_SETTINGS: Readonly<AppSettings> = Object.freeze({
  captionModelDir: null,
  retrievalModelDir: null,
  threads: 0,
  executionProvider: 'cpu',
  // On for machines of 8 GB or less: both model halves open (about 4.1 GB for blip2-opt-2.7b int4)
  // would leave little for the system and the app's own windows there.
  lowMemory: totalmem() <= 8 * 2 ** 30,
  xmp: 'sidecar',
  sidecarNaming: 'ext',
  pairPreference: 'jpeg',
  hierarchicalSubjects: false,
  autoCaption: true,
  captionPrompt: '',
  maxNewTokens: 30,
  // Greedy: beam search multiplies the decoder's work, and on a CPU that is the slow part.
  numBeams: 1,
  modelsDir: null,
  hubEndpoint: null,
});

const d = DEFAULT_SETTINGS;
/** Every field falls back to its default on its own, so one bad value does not reset the rest. */
const StoredSettingsSchema = z.object({
  captionModelDir: z.string().min(1).nullable().catch(d.captionModelDir),
  retrievalModelDir: z.string().min(1).nullable().catch(d.retrievalModelDir),
  threads: z.number().int().min(0).max(256).catch(d.threads),
  executionProvider: z.enum(['cpu', 'cuda', 'dml', 'coreml', 'webgpu']).catch(d.executionProvider),
  lowMemory: z.boolean().catch(d.lowMemory),
  xmp: z.enum(['off', 'sidecar']).catch(d.xmp),
  sidecarNaming: z.enum(['ext', 'base']).catch(d.sidecarNaming),
  pairPreference: z.enum(['jpeg', 'raw']).catch(d.pairPreference),
  hierarchicalSubjects: z.boolean().catch(d.hierarchicalSubjects),
  autoCaption: z.boolean().catch(d.autoCaption),
  captionPrompt: z.string().max(500).catch(d.captionPrompt),
  maxNewTokens: z.number().int().min(1).max(200).catch(d.maxNewTokens),
  numBeams: z.number().int().min(1).max(10).catch(d.numBeams),
  modelsDir: z.string().min(1).nullable().catch(d.modelsDir),
  hubEndpoint: z.string().regex(/^https?:\/\/\S+$/).nullable().catch(d.hubEndpoint),
});

export class SettingsStore {
  /** Updates run one after another, so two quick patches cannot lose one another. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(readonly file: string, private current: AppSettings) {}

  /** Reads the file (missing → defaults). `onProblem` hears about a file that could not be used. */
  static async open(file: string, onProblem: (message: string) => void = () => {}): Promise<SettingsStore> {
    let raw: unknown = {};
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem(`settings file ${file} is unreadable (${(err as Error).message}); using defaults`);
    }
    const parsed = StoredSettingsSchema.safeParse(raw && typeof raw === 'object' ? { ...DEFAULT_SETTINGS, ...raw } : DEFAULT_SETTINGS);
    return new SettingsStore(file, parsed.success ? parsed.data : { ...DEFAULT_SETTINGS });
  }

  get(): AppSettings {
    return { ...this.current };
  }

  /** Applies a patch (already validated by the contract) and saves; returns the new settings. */
  update(patch: Partial<AppSettings>): Promise<AppSettings> {
    const run = this.chain.then(async () => {
      const next = StoredSettingsSchema.parse({ ...this.current, ...stripUndefined(patch) });
      await writeAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`);
      this.current = next;
      return this.get();
    });
    this.chain = run.catch(() => {});
    return run;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new AppError('io_error', `cannot save the settings: ${(err as Error).message}`, { file, cause: err });
  }
}
