// The one IPC contract between the renderer and the main process: every call's argument schema
// (validated in main before anything reaches the core), its result type, the events main pushes,
// and the bridge the preload exposes. Adding a call = one schema + one result type here + its
// handler in electron/main. No Node, no DOM, no Electron: the renderer imports types from here.
import { z } from 'zod';
import type {
  AppSettings, AppState, ChatAnswer, ConvertProgress, DownloadPlan, FolderView, ModelStatus, ModelsView, PhotoDetail,
  PhotoPage, PulledModel, PullProgressEvent, QueueStatus, SearchResult, WorkerStatus,
} from './app-types.ts';
import type { ErrorData } from './errors.ts';

const Id = z.number().int().positive();
const RequestId = z.string().min(1).max(100);
const Path = z.string().min(1).max(4096);
const Label = z.string().trim().min(1).max(200);
const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}/, 'expected an ISO date (YYYY-MM-DD)');
const HubEndpoint = z.string().trim().max(2000).regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http(s) URL');
/** A known model's alias (blip2-opt-2.7b) or a Hub repo id (owner/name). */
const ModelRef = z.string().trim().min(1).max(200)
  .regex(/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/, 'expected a model alias or a Hub repo id (owner/name)')
  .refine((r) => !r.includes('..'), 'expected a model alias or a Hub repo id (owner/name)');
/** A model folder's name inside the models folder (never a path). */
const ModelName = z.string().min(1).max(300).regex(/^[^/\\]+$/, 'a model name, not a path').refine((n) => n !== '.' && n !== '..', 'a model name, not a path');
const ModelRoleSchema = z.enum(['caption', 'retrieval']);

/** The models of one download: a caption model, and optionally the retrieval model ("also search and tags"). */
const ModelPicks = z.array(z.strictObject({
  ref: ModelRef,
  role: ModelRoleSchema,
  revision: z.string().trim().min(1).max(200).regex(/^[\w./-]+$/, 'a branch, tag or commit').optional(),
  quant: z.enum(['fp32', 'int8', 'int4']).optional(),
})).min(1).max(2).refine((ms) => new Set(ms.map((m) => m.role)).size === ms.length, 'one model per role');

/** Filters over the library; strict, so a misspelt filter is an error rather than ignored. */
export const LibraryFiltersSchema = z.strictObject({
  folderId: Id.optional(),
  dateFrom: IsoDate.optional(),
  dateTo: IsoDate.optional(),
  hasTags: z.array(Label).max(50).optional(),
  lacksTags: z.array(Label).max(50).optional(),
  captionContains: z.string().max(1000).optional(),
  captioned: z.boolean().optional(),
});
export type LibraryFilters = z.infer<typeof LibraryFiltersSchema>;

export const SORTS = ['date-desc', 'date-asc', 'added-desc', 'name'] as const;
export type PhotoSort = (typeof SORTS)[number];

/** What the user may tune when regenerating a caption or chatting (validated ranges). */
export const GenerationChoicesSchema = z.strictObject({
  prompt: z.string().max(500).optional(),
  maxNewTokens: z.number().int().min(1).max(200).optional(),
  minNewTokens: z.number().int().min(0).max(200).optional(),
  numBeams: z.number().int().min(1).max(10).optional(),
  repetitionPenalty: z.number().min(1).max(3).optional(),
});
export type GenerationChoices = z.infer<typeof GenerationChoicesSchema>;

export const SettingsPatchSchema = z.strictObject({
  threads: z.number().int().min(0).max(256).optional(),
  executionProvider: z.enum(['cpu', 'cuda', 'dml', 'coreml', 'webgpu']).optional(),
  lowMemory: z.boolean().optional(),
  xmp: z.enum(['off', 'sidecar']).optional(),
  sidecarNaming: z.enum(['ext', 'base']).optional(),
  pairPreference: z.enum(['jpeg', 'raw']).optional(),
  hierarchicalSubjects: z.boolean().optional(),
  autoCaption: z.boolean().optional(),
  captionPrompt: z.string().max(500).optional(),
  maxNewTokens: z.number().int().min(1).max(200).optional(),
  numBeams: z.number().int().min(1).max(10).optional(),
  /** Where downloaded models go (an absolute path; null = <userData>/models). */
  modelsDir: Path.nullable().optional(),
  /** The Hugging Face Hub or a mirror (null = $HF_ENDPOINT, else the Hub). */
  hubEndpoint: HubEndpoint.nullable().optional(),
});

const None = z.strictObject({}).optional();

/** Argument schema of every call (each call takes one object, or nothing). */
export const argSchemas = {
  getState: None,
  pickDirectory: z.strictObject({ title: z.string().max(200) }),
  addFolder: z.strictObject({ path: Path }),
  removeFolder: z.strictObject({ folderId: Id }),
  rescanFolder: z.strictObject({ folderId: Id }),
  listPhotos: z.strictObject({
    filters: LibraryFiltersSchema.default({}),
    sort: z.enum(SORTS).default('date-desc'),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(1000).default(200),
  }),
  getPhoto: z.strictObject({ photoId: Id }),
  setCaption: z.strictObject({ photoId: Id, text: z.string().trim().min(1).max(5000) }),
  acceptCaption: z.strictObject({ photoId: Id }),
  regenerateCaption: z.strictObject({ photoId: Id, requestId: RequestId, options: GenerationChoicesSchema.default({}) }),
  acceptTag: z.strictObject({ photoId: Id, label: Label }),
  rejectTag: z.strictObject({ photoId: Id, label: Label }),
  addTag: z.strictObject({ photoId: Id, label: Label }),
  search: z.strictObject({
    query: z.string().max(10_000).default(''),
    filters: LibraryFiltersSchema.default({}),
    limit: z.number().int().min(1).max(500).default(100),
    rerank: z.boolean().default(false),
  }),
  moreLikeThis: z.strictObject({ photoId: Id, limit: z.number().int().min(1).max(500).default(50) }),
  ask: z.strictObject({
    chatId: RequestId,
    photoId: Id,
    question: z.string().trim().min(1).max(2000),
    history: z.array(z.strictObject({ question: z.string().max(2000), answer: z.string().max(10_000) })).max(50).default([]),
    options: GenerationChoicesSchema.default({}),
  }),
  cancel: z.strictObject({ requestId: RequestId }),
  queueStatus: None,
  pauseQueue: None,
  resumeQueue: None,
  retryFailed: None,
  updateSettings: SettingsPatchSchema,
  setModel: z.strictObject({ role: z.enum(['caption', 'retrieval']), dir: Path.nullable() }),
  convertModel: z.strictObject({
    requestId: RequestId,
    checkpointDir: Path,
    outDir: Path,
    weights: z.enum(['fp32', 'int8', 'int4']).default('int8'),
  }),
  revealPhoto: z.strictObject({ photoId: Id }),
  /** Known and installed models, the models folder, the Hub, whether a token is set. Never contacts the Hub. */
  listModels: None,
  /** Sizes of a download read from the Hub (in the converter process), only when the user asks. */
  planModelDownload: z.strictObject({ requestId: RequestId, models: ModelPicks }),
  /** Downloads (converting as it goes) and sets each model up for its role; cancel() stops, calling again resumes. */
  pullModels: z.strictObject({ requestId: RequestId, models: ModelPicks }),
  verifyModel: z.strictObject({ name: ModelName }),
  removeModel: z.strictObject({ name: ModelName }),
  /** Stores the Hub token encrypted (null clears it); answers only whether one is set. */
  setHubToken: z.strictObject({
    token: z.string().trim().max(500).regex(/^hf_[A-Za-z0-9_-]{4,}$/, 'a Hugging Face token starts with "hf_"').nullable(),
  }),
} as const;

export type Channel = keyof typeof argSchemas;
export type ArgsOf<C extends Channel> = z.input<(typeof argSchemas)[C]>;
export type ParsedArgsOf<C extends Channel> = z.output<(typeof argSchemas)[C]>;

/** What each call resolves to. */
export interface ResultMap {
  getState: AppState;
  pickDirectory: { path: string | null };
  addFolder: FolderView;
  removeFolder: { removed: boolean };
  rescanFolder: FolderView;
  listPhotos: PhotoPage;
  getPhoto: PhotoDetail;
  setCaption: PhotoDetail;
  acceptCaption: PhotoDetail;
  regenerateCaption: PhotoDetail;
  acceptTag: PhotoDetail;
  rejectTag: PhotoDetail;
  addTag: PhotoDetail;
  search: SearchResult;
  moreLikeThis: SearchResult;
  ask: ChatAnswer;
  cancel: { cancelled: boolean };
  queueStatus: QueueStatus;
  pauseQueue: QueueStatus;
  resumeQueue: QueueStatus;
  retryFailed: QueueStatus;
  updateSettings: AppSettings;
  setModel: ModelStatus;
  convertModel: { dir: string };
  revealPhoto: { shown: boolean };
  listModels: ModelsView;
  planModelDownload: DownloadPlan;
  pullModels: { models: PulledModel[] };
  verifyModel: { name: string; ok: boolean; error?: ErrorData };
  removeModel: { removed: string };
  setHubToken: { tokenSet: boolean };
}

// A compile error here when a channel lacks a result type or the other way round.
const channelsMatch: [Channel, keyof ResultMap] extends [keyof ResultMap, Channel] ? true : never = true;
void channelsMatch;

export const CHANNELS = Object.keys(argSchemas) as Channel[];
/** The IPC channel name of a call. */
export const ipcChannel = (c: Channel): string => `pa:${c}`;

/** Every call answers with data or an error as data (never a thrown Error across the boundary). */
export type IpcResult<T> = { ok: true; data: T } | { ok: false; error: ErrorData };

/** Events main pushes to the renderer. */
export interface EventMap {
  /** Photos were added, changed or removed (ids when known); the renderer refreshes what it shows. */
  'library:changed': { photoIds?: number[]; folders?: boolean };
  'queue:status': QueueStatus;
  'worker:status': WorkerStatus;
  'models:status': { caption: ModelStatus; retrieval: ModelStatus };
  /**
   * A streamed token of an answer (`ask`, keyed by its chatId) or a regenerated caption (keyed by its
   * requestId). `text` is the whole text generated so far (cumulative, not a delta): show it as is.
   */
  'stream:token': { requestId: string; text: string };
  'convert:progress': ConvertProgress;
  /** Progress of a model download (pullModels), keyed by its requestId. */
  'pull:progress': PullProgressEvent;
  /** Something went wrong outside a call (a file the watcher could not read…). */
  problem: ErrorData;
  /** A menu item or shortcut handled by the window (main owns the menu, the renderer the views). */
  'app:command': { command: AppCommand };
}
export const APP_COMMANDS = ['open-settings', 'open-queue', 'focus-search'] as const;
export type AppCommand = (typeof APP_COMMANDS)[number];
export type EventName = keyof EventMap;
export const EVENTS = [
  'library:changed', 'queue:status', 'worker:status', 'models:status', 'stream:token', 'convert:progress', 'pull:progress',
  'problem', 'app:command',
] as const satisfies readonly EventName[];
// A compile error here when an event of the map is missing from EVENTS (satisfies checks the other way).
const eventsComplete: EventName extends (typeof EVENTS)[number] ? true : never = true;
void eventsComplete;
export const ipcEvent = (e: EventName): string => `pa-event:${e}`;

/** Photo and thumbnail URLs: a catalog id, never a path. Main serves them (custom protocol). */
export type MediaKind = 'thumb' | 'photo';
export const MEDIA_SCHEME = 'pa-media';
export function mediaUrl(base: string, kind: MediaKind, photoId: number): string {
  return `${base}${kind}/${photoId}`;
}
/** Parses `<base>thumb/12` → { kind, photoId } or null for anything else. */
export function parseMediaPath(path: string): { kind: MediaKind; photoId: number } | null {
  const m = /^\/?(thumb|photo)\/(\d{1,12})$/.exec(path);
  return m ? { kind: m[1] as MediaKind, photoId: Number(m[2]) } : null;
}

/** What the preload exposes as `window.photoAssistant`: one method per call, events, media URLs. */
export type PhotoAssistantBridge = {
  [C in Channel]: (arg?: ArgsOf<C>) => Promise<IpcResult<ResultMap[C]>>;
} & {
  on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void;
  mediaUrl(kind: MediaKind, photoId: number): string;
};

/** Builds the bridge from an invoke and a subscribe function (the preload's, or a test harness's). */
export function buildBridge(
  invoke: (channel: string, arg: unknown) => Promise<unknown>,
  subscribe: (event: string, listener: (payload: unknown) => void) => () => void,
  mediaBase: string,
): PhotoAssistantBridge {
  const bridge: Record<string, unknown> = {};
  for (const c of CHANNELS) bridge[c] = (arg?: unknown) => invoke(ipcChannel(c), arg);
  bridge.on = (event: EventName, listener: (payload: unknown) => void) => {
    if (!EVENTS.includes(event)) throw new Error(`unknown event "${event}"`);
    return subscribe(ipcEvent(event), listener);
  };
  bridge.mediaUrl = (kind: MediaKind, photoId: number) => mediaUrl(mediaBase, kind, photoId);
  return bridge as PhotoAssistantBridge;
}

/** Validates one call's argument: the parsed value, or an error as data naming the problem. */
export function parseArgs<C extends Channel>(channel: C, raw: unknown): IpcResult<ParsedArgsOf<C>> {
  const schema = argSchemas[channel] as unknown as z.ZodType<ParsedArgsOf<C>>;
  const r = schema.safeParse(raw === null ? undefined : raw);
  if (r.success) return { ok: true, data: r.data };
  const issue = r.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return { ok: false, error: { code: 'invalid_argument', message: `${channel}: ${where}${issue?.message ?? 'invalid argument'}` } };
}
