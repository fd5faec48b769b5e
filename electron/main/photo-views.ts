// Catalog rows → the view types the renderer shows (PhotoSummary, PhotoDetail, FolderView, counts).
// Which photos match a filter and in what order is photo-filters.ts's job
// (browsePhotos), this module only dresses the ids it returns.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Catalog } from '../../src/library/catalog/catalog.ts';
import type { Caption, Folder, Tag } from '../../src/library/catalog/types.ts';
import { type SearchFilters, browsePhotos } from '../../src/library/catalog/photo-filters.ts';
import { readSidecar, sidecarPath } from '../../src/library/xmp/index.ts';
import type {
  AppSettings, CaptionView, FolderView, PhotoDetail, PhotoPage, PhotoSummary, TagView,
} from '../../src/shared/app-types.ts';
import { AppError, type ErrorCode } from '../../src/shared/errors.ts';
import type { LibraryFilters, PhotoSort } from '../../src/shared/ipc-contract.ts';

/** Tags shown on a grid tile. */
const TOP_TAGS = 5;


/** The contract's filters in the form filters.ts takes (an empty caption text means no filter). */
export function toSearchFilters(f: LibraryFilters): SearchFilters {
  const { captionContains, ...rest } = f;
  return { ...rest, ...(captionContains?.trim() ? { captionContains } : {}) };
}

export function listPhotoPage(catalog: Catalog, filters: LibraryFilters, sort: PhotoSort, offset: number, limit: number): PhotoPage {
  const page = browsePhotos(catalog, toSearchFilters(filters), { sort, offset, limit });
  return { total: page.total, offset, items: page.photoIds.map((id) => photoSummary(catalog, id)) };
}

/** Where the photo stands in the caption queue; a caption typed by the user counts as done. */
function photoStatus(catalog: Catalog, photoId: number): Pick<PhotoSummary, 'status' | 'error'> {
  const job = catalog.latestJob(photoId);
  if (catalog.currentCaption(photoId)) return { status: 'done' };
  if (!job) return { status: 'none' };
  if (job.state === 'failed') {
    return { status: 'failed', error: { code: (job.lastError?.code ?? 'inference_failed') as ErrorCode, message: job.lastError?.message ?? '' } };
  }
  return { status: job.state };
}

export function photoSummary(catalog: Catalog, photoId: number): PhotoSummary {
  const photo = catalog.photo(photoId);
  if (!photo) throw new AppError('invalid_argument', `no photo with id ${photoId} in the catalog`);
  const present = catalog.photoFiles(photoId).some((f) => f.state === 'present');
  // photoPaths order: present copies first, then offline ones; a vanished photo shows its last path.
  const path = catalog.photoPaths(photoId)[0] ?? catalog.photoFiles(photoId)[0]?.path ?? '';
  const caption = catalog.currentCaption(photoId);
  return {
    id: photo.id,
    name: basename(path),
    path,
    date: photo.exifDate,
    width: photo.width,
    height: photo.height,
    caption: caption?.text ?? null,
    captionProvenance: caption?.provenance ?? null,
    topTags: catalog.tagsOf(photoId).slice(0, TOP_TAGS).map((t) => t.label),
    ...photoStatus(catalog, photoId),
    missing: !present,
  };
}

export async function photoDetail(
  catalog: Catalog, photoId: number, settings: AppSettings, retrievalModelId: string | undefined,
): Promise<PhotoDetail> {
  const summary = photoSummary(catalog, photoId);
  const photo = catalog.photo(photoId)!;
  const paths = catalog.photoPaths(photoId);
  const first = paths[0];
  const sidecar = settings.xmp === 'sidecar' && first ? sidecarPath(first, settings.sidecarNaming) : null;
  return {
    ...summary,
    paths,
    format: photo.format,
    size: photo.size,
    tags: catalog.allTags(photoId).map(tagView),
    captionHistory: catalog.captionHistory(photoId).map(captionView),
    metadata: { xmp: settings.xmp, sidecarPath: sidecar, written: sidecar ? await sidecarHolds(sidecar, summary.caption) : false },
    hasEmbedding: retrievalModelId ? catalog.hasEmbedding(photoId, retrievalModelId) : false,
  };
}

/** Whether the sidecar exists and carries the current caption (nothing to carry counts as written). */
async function sidecarHolds(path: string, caption: string | null): Promise<boolean> {
  if (!existsSync(path)) return false;
  try {
    const fields = await readSidecar(path);
    return caption === null || fields.description === caption;
  } catch {
    return false;
  }
}

function tagView(t: Tag): TagView {
  return { label: t.label, provenance: t.provenance, state: t.state, score: t.score };
}

function captionView(c: Caption): CaptionView {
  return { id: c.id, text: c.text, provenance: c.provenance, modelId: c.modelId, prompt: c.prompt, createdAt: c.createdAt, isCurrent: c.isCurrent };
}


export function folderView(catalog: Catalog, folder: Folder, live: { scanning: boolean; watching: boolean }): FolderView {
  const c = catalog.folderCounts(folder.id);
  return {
    id: folder.id, path: folder.path, status: folder.status, watching: live.watching && folder.status === 'online',
    photos: c.photos, captioned: c.captioned, pending: c.pending, failed: c.failed, lastScanAt: folder.lastScanAt, scanning: live.scanning,
  };
}

/** Active photos, how many have a current caption, how many have a tag the user sees. */
export function libraryCounts(catalog: Catalog): { photos: number; captioned: number; tagged: number } {
  return catalog.libraryCounts();
}

/** The first present copy of a photo, or an error naming why there is none. */
export function presentPath(catalog: Catalog, photoId: number): string {
  if (!catalog.photo(photoId)) throw new AppError('invalid_argument', `no photo with id ${photoId} in the catalog`);
  const file = catalog.photoFiles(photoId).filter((f) => f.state === 'present').sort((a, b) => b.seenAt - a.seenAt || a.path.localeCompare(b.path))[0];
  if (!file) throw new AppError('photo_unreadable', `photo ${photoId} has no file present (its folder is offline or the file was removed)`);
  return file.path;
}
