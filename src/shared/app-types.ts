// The data the app's main process hands the renderer: plain, serializable view types (no Node, no
// DOM), shared by the IPC contract, the main-process service and the Svelte renderer.
import type { ErrorData } from './errors.ts';

export type Provenance = 'ai' | 'user';
export type TagState = 'accepted' | 'rejected' | 'suggested';
/** Where a photo stands in the processing queue. 'none' = nothing queued (e.g. no model yet). */
export type PhotoStatus = 'none' | 'pending' | 'running' | 'done' | 'failed';
export type ExecutionProviderName = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';
export type WeightsName = 'fp32' | 'int8' | 'int4';

export interface AppSettings {
  /** Converted captioning model folder (blip2-opt), or null before the first run is finished. */
  captionModelDir: string | null;
  /** Converted retrieval model folder (blip2-itm) for search and tags; optional. */
  retrievalModelDir: string | null;
  /** 0 = all cores. */
  threads: number;
  executionProvider: ExecutionProviderName;
  /** Keep one half of the captioning model in memory at a time (vision or language model): 2.9 GB
   *  instead of 4.1 for blip2-opt-2.7b int4, at a reload per switch (photos are encoded in batches). */
  lowMemory: boolean;
  xmp: 'off' | 'sidecar';
  sidecarNaming: 'ext' | 'base';
  /** Which half of a RAW+JPEG pair is the photo that is analysed; the other shares its caption. */
  pairPreference: 'jpeg' | 'raw';
  hierarchicalSubjects: boolean;
  /** Caption new photos automatically as they arrive. */
  autoCaption: boolean;
  captionPrompt: string;
  maxNewTokens: number;
  numBeams: number;
  /** Where models are downloaded; null = <userData>/models. */
  modelsDir: string | null;
  /** The Hugging Face Hub or a mirror; null = $HF_ENDPOINT, else https://huggingface.co. */
  hubEndpoint: string | null;
}

export interface ModelStatus {
  dir: string | null;
  state: 'none' | 'loading' | 'ready' | 'error';
  architecture?: string;
  weights?: string;
  /** The captioning model runs one half at a time (the Low memory setting). */
  lowMemory?: boolean;
  error?: ErrorData;
}

export interface WorkerStatus {
  state: 'stopped' | 'starting' | 'ready' | 'restarting' | 'crashed';
  pid?: number;
  restarts: number;
  /** Why it last stopped, for the UI ("the inference worker crashed (SIGKILL); restarted"). */
  message?: string;
}

export interface FolderView {
  id: number;
  path: string;
  status: 'online' | 'offline';
  watching: boolean;
  photos: number;
  captioned: number;
  pending: number;
  failed: number;
  lastScanAt: number | null;
  scanning: boolean;
}

export interface QueueError {
  photoId: number;
  path: string;
  error: ErrorData;
}

export interface QueueStatus {
  paused: boolean;
  pending: number;
  done: number;
  failed: number;
  /** The photo being processed now. */
  current: { photoId: number; path: string; task: 'caption' | 'analyze' } | null;
  /** Photos per minute over the recent window, null until measured. */
  ratePerMinute: number | null;
  etaSeconds: number | null;
  recentErrors: QueueError[];
}

export interface AppState {
  /** No folder or no captioning model yet: the renderer shows the first-run flow. */
  firstRun: boolean;
  settings: AppSettings;
  folders: FolderView[];
  models: { caption: ModelStatus; retrieval: ModelStatus };
  worker: WorkerStatus;
  queue: QueueStatus;
  counts: { photos: number; captioned: number; tagged: number };
  /** Semantic search needs the retrieval model and embeddings. */
  searchAvailable: boolean;
}

export interface TagView {
  label: string;
  provenance: Provenance;
  state: TagState;
  score: number | null;
}

export interface CaptionView {
  id: number;
  text: string;
  provenance: Provenance;
  modelId: string | null;
  prompt: string | null;
  createdAt: number;
  isCurrent: boolean;
}

export interface PhotoSummary {
  id: number;
  /** File name of the first present copy. */
  name: string;
  path: string;
  /** EXIF date (ISO) or null. */
  date: string | null;
  width: number | null;
  height: number | null;
  caption: string | null;
  captionProvenance: Provenance | null;
  /** Accepted and suggested tag labels, best first (a few, for the grid). */
  topTags: string[];
  status: PhotoStatus;
  error?: ErrorData;
  missing: boolean;
}

export interface PhotoDetail extends PhotoSummary {
  paths: string[];
  format: string | null;
  size: number;
  /** Every tag of the photo, rejected ones included (state says which), so a rejection can be undone. */
  tags: TagView[];
  captionHistory: CaptionView[];
  /** The XMP sidecar of the first copy and whether it holds the current caption. */
  metadata: { xmp: 'off' | 'sidecar'; sidecarPath: string | null; written: boolean };
  hasEmbedding: boolean;
}

export interface PhotoPage {
  total: number;
  offset: number;
  items: PhotoSummary[];
}

export interface SearchResultItem extends PhotoSummary {
  score: number;
  itm?: number;
}

export interface SearchResult {
  mode: 'semantic' | 'filter' | 'similar';
  items: SearchResultItem[];
}

export interface ChatAnswer {
  text: string;
  endedWithEos: boolean;
  cancelled: boolean;
  /** Which model answered (`Salesforce/blip2-flan-t5-xl@abc1234 int4`). */
  model: string;
}

export interface ConvertProgress {
  requestId: string;
  stage: string;
  part?: string;
  done: boolean;
  error?: ErrorData;
}

// ── models from the Hugging Face Hub (Settings → Models, the first-run download) ──────────────────

export type ModelRole = 'caption' | 'retrieval';
/** The stages of a pull, as src/models/transfer-progress.ts reports them. */
export type PullStage = 'resolving' | 'headers' | 'downloading' | 'finishing' | 'verifying' | 'done';

/** An entry of assets/models/known-models.json and where it stands in the models folder. */
export interface KnownModelView {
  alias: string;
  repo: string;
  role: ModelRole;
  family: string;
  recommendedQuant: WeightsName;
  /** Billions of parameters. */
  params: number;
  /** False while this version cannot run its family (listed so people know it is coming). */
  usable: boolean;
  recommended: boolean;
  description: string;
  /** 'installed': a ready folder of this repo; 'partial': an unfinished download that can be resumed. */
  status: 'available' | 'partial' | 'installed';
  /** The ready folder's name when installed. */
  installedName?: string;
}

/** A folder in the models folder (a ready model, a broken one, or an unfinished download). */
export interface InstalledModelView {
  name: string;
  dir: string;
  state: 'ready' | 'invalid' | 'partial';
  /** How captions name it: `Salesforce/blip2-opt-2.7b@abc1234 int4`. */
  label?: string;
  kind?: string;
  weights?: string;
  repo?: string;
  bytes: number;
  error?: ErrorData;
  /** The role it is set up for in this app, if any. */
  inUse: ModelRole | null;
}

export interface ModelsView {
  /** Where downloads go (settings' modelsDir, else <userData>/models). */
  modelsDir: string;
  /** The Hub (or mirror) downloads come from: settings' hubEndpoint, else $HF_ENDPOINT, else the Hub. */
  hubEndpoint: string;
  /** Whether a Hub token is stored; the token itself never leaves the main process. */
  tokenSet: boolean;
  /** Whether this system can store a token encrypted (Electron's safeStorage with a real keyring). */
  tokenStorage: boolean;
  known: KnownModelView[];
  installed: InstalledModelView[];
  /** The download running now (one at a time), so a reopened window can show it. */
  activeDownload: { requestId: string; refs: string[] } | null;
}

/** What a pull (src/models/pull.ts) will cost, read from the Hub before it starts. */
export interface PullPlan {
  repo: string;
  commit: string;
  /** The folder it will get in the models folder. */
  name: string;
  /** The repo holds an already converted model (downloaded as is). */
  preconverted: boolean;
  downloadBytes: number;
  diskBytes: number;
  ramBytes: number;
  /** Free space in the models folder. */
  freeBytes: number;
}

/** What one model's download will cost, read from the Hub when the user asks. */
export interface PullPlanView extends Omit<PullPlan, 'freeBytes'> {
  ref: string;
  role: ModelRole;
}

export interface DownloadPlan {
  models: PullPlanView[];
  modelsDir: string;
  freeBytes: number;
  downloadBytes: number;
  diskBytes: number;
  /** The most any one of the models needs while it runs. */
  ramBytes: number;
}

/** Where a pull (src/models/pull.ts) is: stage, bytes, rate and ETA. */
export interface PullProgress {
  stage: PullStage;
  repo: string;
  /** The file being fetched. */
  file?: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  etaSeconds: number | null;
  /** This run carried on from an interrupted one. */
  resumed?: boolean;
}

/** A progress event of a download (`pullModels`), keyed by its requestId. */
export interface PullProgressEvent extends PullProgress {
  requestId: string;
  /** Which of the request's models this is (0-based) and how many there are. */
  index: number;
  count: number;
  role: ModelRole;
  /** The last event of this model: how it ended. */
  outcome?: 'done' | 'cancelled' | 'failed';
  error?: ErrorData;
}

export interface PulledModel {
  ref: string;
  role: ModelRole;
  repo: string;
  dir: string;
  label: string;
  downloadedBytes: number;
  resumed: boolean;
  alreadyPresent: boolean;
}
