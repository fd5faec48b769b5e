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
  xmp: 'off' | 'sidecar';
  sidecarNaming: 'ext' | 'base';
  hierarchicalSubjects: boolean;
  /** Caption new photos automatically as they arrive. */
  autoCaption: boolean;
  captionPrompt: string;
  maxNewTokens: number;
  numBeams: number;
}

export interface ModelStatus {
  dir: string | null;
  state: 'none' | 'loading' | 'ready' | 'error';
  architecture?: string;
  weights?: string;
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
}

export interface ConvertProgress {
  requestId: string;
  stage: string;
  part?: string;
  done: boolean;
  error?: ErrorData;
}
