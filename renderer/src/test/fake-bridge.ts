// A fake preload bridge for component unit tests only (the e2e tests use the real main process).
// Typed `satisfies PhotoAssistantBridge` so it cannot drift from the contract. Photos are made up
// on demand, so a 100,000-photo library costs nothing until a page is asked for.
import type {
  AppState, ArgsOf, Channel, ErrorData, EventMap, EventName, IpcResult, ModelsView, PhotoAssistantBridge, PhotoDetail,
  PhotoSummary, ResultMap, TagView,
} from '../lib/contract.ts';

/** What listModels answers by default: the two recommended known models, nothing installed. */
export function fakeModelsView(over: Partial<ModelsView> = {}): ModelsView {
  return {
    modelsDir: '/data/models', hubEndpoint: 'https://huggingface.co', tokenSet: false, tokenStorage: true, installed: [], activeDownload: null,
    known: [
      { alias: 'blip2-opt-2.7b', repo: 'Salesforce/blip2-opt-2.7b', role: 'caption', family: 'opt', recommendedQuant: 'int4', params: 3.74, usable: true, recommended: true, description: 'BLIP-2 with OPT-2.7b: captions and visual chat.', status: 'available' },
      { alias: 'blip2-flan-t5-xl', repo: 'Salesforce/blip2-flan-t5-xl', role: 'caption', family: 'flan-t5', recommendedQuant: 'int4', params: 3.94, usable: false, recommended: false, description: 'Flan-T5-XL.', status: 'available' },
      { alias: 'blip2-itm', repo: 'Salesforce/blip2-itm-vit-g', role: 'retrieval', family: 'itm', recommendedQuant: 'int8', params: 1.17, usable: true, recommended: true, description: 'Semantic search and tags.', status: 'available' },
    ],
    ...over,
  };
}

export interface FakeOptions {
  photos?: number;
  searchAvailable?: boolean;
  firstRun?: boolean;
}

type Handler<C extends Channel> = (arg: ArgsOf<C>) => ResultMap[C] | Promise<ResultMap[C]>;

export function createFakeBridge(opts: FakeOptions = {}) {
  let total = opts.photos ?? 0;
  const calls: Array<{ channel: Channel; arg: unknown }> = [];
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const overrides = new Map<Channel, Handler<Channel>>();
  const failures = new Map<Channel, ErrorData>();
  const edits = new Map<number, Partial<PhotoDetail>>();

  const summary = (id: number): PhotoSummary => ({
    id, name: `IMG_${String(id).padStart(6, '0')}.jpg`, path: `/photos/IMG_${id}.jpg`, date: '2024-05-01',
    width: 640, height: 480, caption: `a photo number ${id}`, captionProvenance: 'ai', topTags: [], status: 'done',
    missing: false, ...edits.get(id),
  });
  const detail = (id: number): PhotoDetail => {
    const s = summary(id);
    const tags: TagView[] = (edits.get(id)?.tags as TagView[] | undefined) ?? [
      { label: 'dog', provenance: 'ai', state: 'suggested', score: 0.8 },
    ];
    return {
      ...s, paths: [s.path], format: 'jpeg', size: 1234, tags, hasEmbedding: false,
      captionHistory: s.caption ? [{ id: 1, text: s.caption, provenance: s.captionProvenance ?? 'ai', modelId: null, prompt: null, createdAt: 0, isCurrent: true }] : [],
      metadata: { xmp: 'sidecar', sidecarPath: `${s.path}.xmp`, written: true },
    };
  };
  const state = (): AppState => ({
    firstRun: opts.firstRun ?? false,
    settings: {
      captionModelDir: '/models/blip2', retrievalModelDir: null, threads: 0, executionProvider: 'cpu', lowMemory: false, xmp: 'sidecar',
      sidecarNaming: 'ext', pairPreference: 'jpeg', hierarchicalSubjects: false, autoCaption: true, captionPrompt: '', maxNewTokens: 30, numBeams: 1,
      modelsDir: null, hubEndpoint: null,
    },
    folders: [{ id: 1, path: '/photos', status: 'online', watching: true, photos: total, captioned: total, pending: 0, failed: 0, lastScanAt: 0, scanning: false }],
    models: { caption: { dir: '/models/blip2', state: 'ready' }, retrieval: { dir: null, state: 'none' } },
    worker: { state: 'ready', restarts: 0 },
    queue: { paused: false, pending: 0, done: total, failed: 0, current: null, ratePerMinute: null, etaSeconds: null, recentErrors: [] },
    counts: { photos: total, captioned: total, tagged: 0 },
    searchAvailable: opts.searchAvailable ?? false,
  });
  const editTags = (id: number, label: string, tagState: TagView['state']) => {
    const tags = detail(id).tags.filter((t) => t.label !== label);
    tags.push({ label, provenance: 'user', state: tagState, score: null });
    edits.set(id, { ...edits.get(id), tags } as Partial<PhotoDetail>);
    return detail(id);
  };

  const defaults: { [C in Channel]: Handler<C> } = {
    getState: () => state(),
    pickDirectory: () => ({ path: null }),
    addFolder: ({ path }) => ({ ...state().folders[0], id: 2, path }),
    removeFolder: () => ({ removed: true }),
    rescanFolder: () => state().folders[0],
    listPhotos: ({ offset = 0, limit = 200 }) => {
      const items: PhotoSummary[] = [];
      for (let i = offset; i < Math.min(total, offset + limit); i++) items.push(summary(i + 1));
      return { total, offset, items };
    },
    getPhoto: ({ photoId }) => detail(photoId),
    setCaption: ({ photoId, text }) => {
      edits.set(photoId, { ...edits.get(photoId), caption: text, captionProvenance: 'user' });
      return detail(photoId);
    },
    acceptCaption: ({ photoId }) => {
      edits.set(photoId, { ...edits.get(photoId), captionProvenance: 'user' });
      return detail(photoId);
    },
    regenerateCaption: ({ photoId }) => detail(photoId),
    acceptTag: ({ photoId, label }) => editTags(photoId, label, 'accepted'),
    rejectTag: ({ photoId, label }) => editTags(photoId, label, 'rejected'),
    addTag: ({ photoId, label }) => editTags(photoId, label, 'accepted'),
    search: () => ({ mode: 'semantic', items: [1, 2, 3].map((id) => ({ ...summary(id), score: 1 / id })) }),
    moreLikeThis: () => ({ mode: 'similar', items: [] }),
    ask: () => ({ text: 'an answer', endedWithEos: true, cancelled: false, model: 'Salesforce/blip2-opt-2.7b@0000000 int4' }),
    cancel: () => ({ cancelled: true }),
    queueStatus: () => state().queue,
    pauseQueue: () => ({ ...state().queue, paused: true }),
    resumeQueue: () => state().queue,
    retryFailed: () => state().queue,
    updateSettings: (patch) => ({ ...state().settings, ...patch }),
    setModel: ({ dir }) => ({ dir, state: dir ? 'ready' : 'none' }),
    convertModel: ({ outDir }) => ({ dir: outDir }),
    revealPhoto: () => ({ shown: true }),
    listModels: () => fakeModelsView(),
    planModelDownload: ({ models }) => {
      const plans = models.map((m) => ({
        ref: m.ref, role: m.role, repo: m.ref, commit: 'a'.repeat(40), name: `${m.ref.replace('/', '--')}-int4`, preconverted: false,
        downloadBytes: 15_500_000_000, diskBytes: 2_300_000_000, ramBytes: 3_300_000_000,
      }));
      const sum = (k: 'downloadBytes' | 'diskBytes') => plans.reduce((a, p) => a + p[k], 0);
      return { models: plans, modelsDir: '/data/models', freeBytes: 100_000_000_000, downloadBytes: sum('downloadBytes'), diskBytes: sum('diskBytes'), ramBytes: Math.max(...plans.map((p) => p.ramBytes)) };
    },
    pullModels: ({ models }) => ({
      models: models.map((m) => ({
        ref: m.ref, role: m.role, repo: m.ref, dir: `/data/models/${m.ref.replace('/', '--')}`, label: `${m.ref}@aaaaaaa int4`,
        downloadedBytes: 1, resumed: false, alreadyPresent: false,
      })),
    }),
    verifyModel: ({ name }) => ({ name, ok: true }),
    removeModel: ({ name }) => ({ removed: `/data/models/${name}` }),
    setHubToken: ({ token }) => ({ tokenSet: token !== null }),
  };

  function method<C extends Channel>(channel: C) {
    return async (arg?: ArgsOf<C>): Promise<IpcResult<ResultMap[C]>> => {
      calls.push({ channel, arg });
      const failure = failures.get(channel);
      if (failure) return { ok: false, error: failure };
      const handler = (overrides.get(channel) ?? defaults[channel]) as Handler<C>;
      try {
        return { ok: true, data: await handler((arg ?? {}) as ArgsOf<C>) };
      } catch (err) {
        // A handler may answer with an error as data (main's way), e.g. a download ending 'cancelled'.
        const e = err as Partial<ErrorData>;
        if (typeof e?.code === 'string') return { ok: false, error: { code: e.code, message: e.message ?? '' } };
        throw err;
      }
    };
  }

  const bridge = {
    getState: method('getState'), pickDirectory: method('pickDirectory'), addFolder: method('addFolder'),
    removeFolder: method('removeFolder'), rescanFolder: method('rescanFolder'), listPhotos: method('listPhotos'),
    getPhoto: method('getPhoto'), setCaption: method('setCaption'), acceptCaption: method('acceptCaption'),
    regenerateCaption: method('regenerateCaption'), acceptTag: method('acceptTag'), rejectTag: method('rejectTag'),
    addTag: method('addTag'), search: method('search'), moreLikeThis: method('moreLikeThis'), ask: method('ask'),
    cancel: method('cancel'), queueStatus: method('queueStatus'), pauseQueue: method('pauseQueue'),
    resumeQueue: method('resumeQueue'), retryFailed: method('retryFailed'), updateSettings: method('updateSettings'),
    setModel: method('setModel'), convertModel: method('convertModel'), revealPhoto: method('revealPhoto'),
    listModels: method('listModels'), planModelDownload: method('planModelDownload'), pullModels: method('pullModels'),
    verifyModel: method('verifyModel'), removeModel: method('removeModel'), setHubToken: method('setHubToken'),
    on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener as (payload: unknown) => void);
      return () => set.delete(listener as (payload: unknown) => void);
    },
    mediaUrl: (kind: 'thumb' | 'photo', photoId: number) => `fake-media:${kind}/${photoId}`,
  } satisfies PhotoAssistantBridge;

  return {
    bridge,
    calls,
    callsTo: (channel: Channel) => calls.filter((c) => c.channel === channel),
    emit<E extends EventName>(event: E, payload: EventMap[E]): void {
      for (const l of listeners.get(event) ?? []) l(payload);
    },
    listenerCount: (event: EventName) => listeners.get(event)?.size ?? 0,
    /** Replaces a channel's answer (e.g. an `ask` that waits for the test to finish it). */
    handle<C extends Channel>(channel: C, handler: Handler<C>): void {
      overrides.set(channel, handler as unknown as Handler<Channel>);
    },
    fail(channel: Channel, error: ErrorData | null): void {
      if (error) failures.set(channel, error);
      else failures.delete(channel);
    },
    setTotal(n: number): void {
      total = n;
    },
  };
}

export type FakeBridge = ReturnType<typeof createFakeBridge>;
