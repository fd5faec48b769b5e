// Models from the Hugging Face Hub, the main-process side (Settings → Models and the first-run
// download): the known and installed models, the models folder, the Hub endpoint and token, and
// downloads. Every request to the Hub is made by a converter child (converter-host.ts: planPullInChild,
// pullInChild), never by this process or the window, and only for a lookup or download the user
// started. A finished download is set up for its role exactly as a chosen converted folder is
// (AppService.setModel), so captioning starts at once. Plain Node, no Electron (tested without it).
import { join, resolve } from 'node:path';
import { type PullArgs, planPullInChild, pullInChild } from '../../src/jobs/converter-host.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import { knownModels, resolveModelRef } from '../../src/models/known-models.ts';
import { folderNameFor, listInstalled, removeModel, verifyModel } from '../../src/models/model-store.ts';
import type {
  DownloadPlan, InstalledModelView, KnownModelView, ModelRole, ModelStatus, ModelsView, PulledModel, PullProgressEvent,
} from '../../src/shared/app-types.ts';
import { CAPTION_KINDS } from '../../src/shared/model-manifest.ts';
import { AppError, errorCode, toErrorData } from '../../src/shared/errors.ts';
import type { ParsedArgsOf, ResultMap } from '../../src/shared/ipc-contract.ts';
import type { EventHub } from './event-hub.ts';
import { HubTokenStore, type SecretBox, TOKEN_FILE } from './hub-token.ts';
import type { SettingsStore } from './settings-store.ts';

/** The Hub, when neither the settings nor $HF_ENDPOINT name another (src/hub/hub-client.ts's
 *  DEFAULT_ENDPOINT; not imported, so the main bundle carries no Hub client at all). */
export const HUB_ENDPOINT = 'https://huggingface.co';

const KINDS_OF_ROLE: Record<ModelRole, readonly string[]> = { caption: CAPTION_KINDS, retrieval: ['blip2-itm'] };
const ROLE_NAME: Record<ModelRole, string> = { caption: 'captioning', retrieval: 'retrieval (search and tags)' };

export interface ModelServiceOptions {
  userDataDir: string;
  events: EventHub;
  settings: SettingsStore;
  /** How a converter process is started (one per lookup or download). */
  convertTransport: TransportFactory;
  /** Encrypts the Hub token (Electron's safeStorage); without it no token can be stored. */
  secrets?: SecretBox;
  /** For $HF_ENDPOINT (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Sets a model folder up for a role, as the user choosing it would (AppService.setModel). */
  useModel: (role: ModelRole, dir: string | null) => Promise<ModelStatus>;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

type Picks = ParsedArgsOf<'pullModels'>['models'];

export class ModelService {
  private readonly tokens: HubTokenStore;
  /** Running lookups and downloads by request id: cancel() aborts them, close() waits for them. */
  private readonly jobs = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  /** The one download that may run at a time (two would compete for the same disk and line). */
  private active: { requestId: string; refs: string[] } | null = null;

  constructor(private readonly o: ModelServiceOptions) {
    this.tokens = new HubTokenStore(join(o.userDataDir, TOKEN_FILE), o.secrets);
  }

  modelsDir(): string {
    return this.o.settings.get().modelsDir ?? join(this.o.userDataDir, 'models');
  }

  hubEndpoint(): string {
    return (this.o.settings.get().hubEndpoint ?? ((this.o.env ?? process.env).HF_ENDPOINT || HUB_ENDPOINT)).replace(/\/+$/, '');
  }

  /** Known and installed models and where they go; reads only the disk, never the Hub. */
  async list(): Promise<ModelsView> {
    const modelsDir = this.modelsDir();
    const s = this.o.settings.get();
    const roleOf = (dir: string): ModelRole | null =>
      s.captionModelDir && resolve(s.captionModelDir) === dir ? 'caption' : s.retrievalModelDir && resolve(s.retrievalModelDir) === dir ? 'retrieval' : null;
    const installed: InstalledModelView[] = (await listInstalled(modelsDir)).map((m) => ({
      name: m.name, dir: m.dir, state: m.state, bytes: m.bytes, inUse: m.state === 'ready' ? roleOf(resolve(m.dir)) : null,
      ...(m.label ? { label: m.label } : {}), ...(m.kind ? { kind: m.kind } : {}), ...(m.weights ? { weights: m.weights } : {}),
      ...(m.repo ? { repo: m.repo } : {}), ...(m.error ? { error: m.error } : {}),
    }));
    const known: KnownModelView[] = knownModels().map((k) => {
      const ready = installed.find((m) => m.state === 'ready' && m.repo === k.repo);
      const names = [folderNameFor(k.repo, k.recommendedQuant), folderNameFor(k.repo, undefined)];
      const partial = installed.some((m) => m.state === 'partial' && names.includes(m.name));
      return {
        alias: k.alias, repo: k.repo, role: k.role, family: k.family, recommendedQuant: k.recommendedQuant, params: k.params,
        usable: k.usable, recommended: k.recommended ?? false, description: k.description,
        status: ready ? 'installed' : partial ? 'partial' : 'available', ...(ready ? { installedName: ready.name } : {}),
      };
    });
    return {
      modelsDir, hubEndpoint: this.hubEndpoint(), tokenSet: this.tokens.isSet(), tokenStorage: await this.tokens.canStore(),
      known, installed, activeDownload: this.active ? { requestId: this.active.requestId, refs: [...this.active.refs] } : null,
    };
  }

  /** What the download will cost, read from the Hub by a converter child, one model after the other. */
  async plan(args: ParsedArgsOf<'planModelDownload'>): Promise<DownloadPlan> {
    checkRoles(args.models);
    const modelsDir = this.modelsDir();
    return this.track(args.requestId, async (signal) => {
      const base = await this.pullArgs(modelsDir);
      const models: DownloadPlan['models'] = [];
      let freeBytes = 0;
      for (const m of args.models) {
        const p = await planPullInChild(this.o.convertTransport, { ...base, ...pick(m) }, { signal });
        freeBytes = p.freeBytes;
        models.push({ ref: m.ref, role: m.role, repo: p.repo, commit: p.commit, name: p.name, preconverted: p.preconverted, downloadBytes: p.downloadBytes, diskBytes: p.diskBytes, ramBytes: p.ramBytes });
      }
      const sum = (k: 'downloadBytes' | 'diskBytes') => models.reduce((a, m) => a + m[k], 0);
      return { models, modelsDir, freeBytes, downloadBytes: sum('downloadBytes'), diskBytes: sum('diskBytes'), ramBytes: Math.max(...models.map((m) => m.ramBytes)) };
    });
  }

  /**
   * Downloads the models one after the other, each converted as it arrives, and sets each up for its
   * role as soon as it is ready. Cancelling leaves the unfinished one resumable: calling again with
   * the same models carries on where it stopped (finished ones are found present and kept).
   */
  async pull(args: ParsedArgsOf<'pullModels'>): Promise<ResultMap['pullModels']> {
    checkRoles(args.models);
    if (this.active) throw new AppError('invalid_argument', `a download is already running (${this.active.refs.join(', ')}); cancel it first`);
    const { requestId } = args;
    const modelsDir = this.modelsDir();
    this.active = { requestId, refs: args.models.map((m) => m.ref) };
    try {
      return await this.track(requestId, async (signal) => {
        const base = await this.pullArgs(modelsDir);
        const pulled: PulledModel[] = [];
        for (const [index, m] of args.models.entries()) {
          const at = { requestId, index, count: args.models.length, role: m.role } as const;
          const repo = resolveModelRef(m.ref).repo;
          this.o.log('info', `downloading ${repo} for ${ROLE_NAME[m.role]} from ${base.endpoint} into ${modelsDir}`);
          let last: PullProgressEvent = { ...at, repo, stage: 'resolving', bytesDone: 0, bytesTotal: 0, rate: 0, etaSeconds: null };
          try {
            const r = await pullInChild(this.o.convertTransport, { ...base, ...pick(m) }, {
              signal,
              onProgress: (p) => this.o.events.emit('pull:progress', (last = { ...at, ...p })),
            });
            if (!KINDS_OF_ROLE[m.role].includes(r.kind)) {
              throw new AppError('checkpoint_unsupported', `${r.label} is a ${r.kind} model, not a ${ROLE_NAME[m.role]} model (${KINDS_OF_ROLE[m.role].join(' or ')})`, { file: r.dir });
            }
            this.o.events.emit('pull:progress', {
              ...at, repo: r.repo || repo, stage: 'done', bytesDone: Math.max(last.bytesTotal, last.bytesDone), bytesTotal: last.bytesTotal,
              rate: 0, etaSeconds: 0, resumed: r.resumed, outcome: 'done',
            });
            this.o.log('info', `${r.label} is ready in ${r.dir}${r.resumed ? ' (resumed)' : ''}${r.alreadyPresent ? ' (already present)' : ''}`);
            // As if the user had chosen the folder: settings, then the worker loads it.
            await this.o.useModel(m.role, r.dir);
            pulled.push({ ref: m.ref, role: m.role, repo: r.repo || repo, dir: r.dir, label: r.label, downloadedBytes: r.downloadedBytes, resumed: r.resumed, alreadyPresent: r.alreadyPresent });
          } catch (err) {
            const cancelled = errorCode(err) === 'cancelled';
            this.o.events.emit('pull:progress', { ...last, rate: 0, etaSeconds: null, outcome: cancelled ? 'cancelled' : 'failed', error: toErrorData(err) });
            if (!cancelled) this.o.log('warn', `downloading ${repo} failed: ${toErrorData(err).message}`);
            throw err;
          }
        }
        return { models: pulled };
      });
    } finally {
      this.active = null;
    }
  }

  /** Recomputes every checksum of a ready model (a mismatch is an answer, not a failure). */
  async verify(args: ParsedArgsOf<'verifyModel'>): Promise<ResultMap['verifyModel']> {
    const m = await this.installed(args.name);
    if (m.state === 'partial') throw new AppError('invalid_argument', `${m.name} is an unfinished download: resume it, or remove it`);
    try {
      await verifyModel(m.dir);
      return { name: m.name, ok: true };
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'model_invalid' && code !== 'model_missing') throw err;
      return { name: m.name, ok: false, error: toErrorData(err) };
    }
  }

  /** Removes a model folder or an unfinished download; a model in use is unset first. */
  async remove(args: ParsedArgsOf<'removeModel'>): Promise<ResultMap['removeModel']> {
    const m = await this.installed(args.name);
    if (m.state === 'partial' && this.active) throw new AppError('invalid_argument', 'a download is running: cancel it before removing an unfinished one');
    if (m.inUse) await this.o.useModel(m.inUse, null);
    return { removed: await removeModel(this.modelsDir(), m.name) };
  }

  async setToken(args: ParsedArgsOf<'setHubToken'>): Promise<ResultMap['setHubToken']> {
    await this.tokens.set(args.token);
    return { tokenSet: this.tokens.isSet() };
  }

  /** Aborts the lookup or download with this request id; false when there is none. */
  cancel(requestId: string): boolean {
    const job = this.jobs.get(requestId);
    job?.abort.abort();
    return job !== undefined;
  }

  /** Cancels everything running and waits for the children to exit (downloads stay resumable). */
  async close(): Promise<void> {
    for (const j of this.jobs.values()) j.abort.abort();
    await Promise.all([...this.jobs.values()].map((j) => j.done.catch(() => {})));
  }

  private async installed(name: string): Promise<InstalledModelView> {
    const m = (await this.list()).installed.find((i) => i.name === name);
    if (!m) throw new AppError('model_missing', `no model "${name}" in ${this.modelsDir()}`);
    return m;
  }

  private async pullArgs(modelsDir: string): Promise<Omit<PullArgs, 'ref'>> {
    const token = await this.tokens.get();
    return { modelsDir, endpoint: this.hubEndpoint(), ...(token ? { token } : {}) };
  }

  private async track<T>(requestId: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.jobs.has(requestId)) throw new AppError('invalid_argument', `request id ${requestId} is already in use`);
    const abort = new AbortController();
    const done = fn(abort.signal);
    this.jobs.set(requestId, { abort, done });
    try {
      return await done;
    } finally {
      this.jobs.delete(requestId);
    }
  }
}

function pick(m: Picks[number]): Pick<PullArgs, 'ref' | 'revision' | 'quant'> {
  return { ref: m.ref, ...(m.revision ? { revision: m.revision } : {}), ...(m.quant ? { quant: m.quant } : {}) };
}

/** A known model asked for the other role (the retrieval model as the caption model) is refused up front. */
function checkRoles(models: Picks): void {
  for (const m of models) {
    const known = resolveModelRef(m.ref).known;
    if (known && known.role !== m.role) {
      throw new AppError('invalid_argument', `${known.repo} is a ${ROLE_NAME[known.role]} model, not a ${ROLE_NAME[m.role]} model`);
    }
  }
}
