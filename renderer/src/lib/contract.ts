// The one place the renderer reaches into src/shared: types only, so nothing of the main process
// (zod, schemas) ends up in the bundle.
export type {
  AppCommand, ArgsOf, Channel, EventMap, EventName, GenerationChoices, IpcResult, LibraryFilters, MediaKind,
  PhotoAssistantBridge, PhotoSort, ResultMap,
} from '../../../src/shared/ipc-contract.ts';
export type {
  AppSettings, AppState, CaptionView, ChatAnswer, ConvertProgress, FolderView, ModelStatus, PhotoDetail,
  PhotoPage, PhotoSummary, Provenance, QueueError, QueueStatus, SearchResult, SearchResultItem, TagView,
  WeightsName, WorkerStatus, ExecutionProviderName, DownloadPlan, InstalledModelView, KnownModelView, ModelsView,
  PulledModel, PullPlanView, PullProgressEvent, PullStage,
} from '../../../src/shared/app-types.ts';
export type { ErrorCode, ErrorData } from '../../../src/shared/errors.ts';
