// The library catalog: one SQLite file holding folders, photos (keyed by content hash), their paths,
// captions, tags, search vectors and the job queue. This class owns the connection and its lifecycle;
// the rules live in folders.ts, files.ts, captions.ts, tags.ts, embeddings.ts, settings.ts, jobs.ts
// and reports.ts, which it exposes as one synchronous API. No SQL leaves this folder.
// Several connections (processes) may share the file: WAL lets readers run beside the one writer.
import { AppError } from '../../shared/errors.ts';
import * as captions from './captions.ts';
import { CATALOG_CTX, type Ctx, immediate, openDb, requireRow } from './connection.ts';
import * as embeddings from './embeddings.ts';
import * as files from './files.ts';
import * as folders from './folders.ts';
import { JobQueue } from './jobs.ts';
import { migrate } from './migrations.ts';
import * as reports from './reports.ts';
import * as settings from './settings.ts';
import * as tags from './tags.ts';
import type {
  AiCaptionInput, Caption, Folder, FolderStatus, ImportResult, Photo, PhotoFile, RecordFileInput,
  RecordFileResult, Tag, UserMetadata,
} from './types.ts';

export interface CatalogOptions {
  /** Clock for created_at/updated_at columns; tests pin it. */
  now?: () => number;
}

export class Catalog {
  readonly file: string;
  /** The persistent caption queue (claim → work → complete in one transaction). */
  readonly jobs: JobQueue;
  private readonly ctx: Ctx;

  private constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.file = ctx.file;
    this.jobs = new JobQueue(ctx);
  }

  /**
   * Opens (creating if needed) and migrates the catalog at `file`. Throws AppError 'io_error' for a
   * file that is not SQLite or is corrupt, and 'invalid_argument' for a catalog from a newer app
   * version or another program's database; the message names the file.
   */
  static open(file: string, opts: CatalogOptions = {}): Catalog {
    const db = openDb(file);
    try {
      migrate(db, file);
    } catch (err) {
      db.close();
      if (err instanceof AppError) throw err;
      throw new AppError('io_error', `cannot read the catalog: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
    }
    return new Catalog({ db, file, now: opts.now ?? Date.now });
  }

  /** For the catalog's own modules only (see connection.ts). */
  get [CATALOG_CTX](): Ctx {
    return this.ctx;
  }

  get now(): () => number {
    return this.ctx.now;
  }

  close(): void {
    if (!this.ctx.db.open) return;
    // Folds the WAL back into the main file so a copied catalog is complete on its own.
    try {
      this.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Another connection is reading; the checkpoint happens when the last one closes.
    }
    this.ctx.db.close();
  }

  /** 'ok', or SQLite's list of problems one per line. */
  integrityCheck(): string {
    const rows = this.ctx.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('\n');
  }

  /** Runs `fn` as one IMMEDIATE transaction; catalog calls inside it join it. */
  transaction<T>(fn: () => T): T {
    return immediate(this.ctx.db, fn);
  }

  // folders
  addFolder(path: string): Folder { return folders.addFolder(this.ctx, path); }
  listFolders(): Folder[] { return folders.listFolders(this.ctx); }
  folderByPath(path: string): Folder | undefined { return folders.folderByPath(this.ctx, path); }
  folder(id: number): Folder | undefined { return folders.folderById(this.ctx, id); }
  removeFolder(id: number): boolean { return folders.removeFolder(this.ctx, id); }
  setFolderStatus(id: number, status: FolderStatus): void { folders.setFolderStatus(this.ctx, id, status); }
  touchFolderScan(id: number): void { folders.touchFolderScan(this.ctx, id); }

  // files and photos
  recordFile(input: RecordFileInput): RecordFileResult { return files.recordFile(this.ctx, input); }
  confirmFile(path: string): boolean { return files.confirmFile(this.ctx, path); }
  markFileMissing(path: string): boolean { return files.markFileMissing(this.ctx, path); }
  fileByPath(path: string): PhotoFile | undefined { return files.fileByPath(this.ctx, path); }
  filesUnder(folderId: number): PhotoFile[] { return files.filesUnder(this.ctx, folderId); }
  photo(id: number): Photo | undefined { return files.photo(this.ctx, id); }
  photoByHash(hash: string): Photo | undefined { return files.photoByHash(this.ctx, hash); }
  photoPaths(id: number): string[] { return files.photoPaths(this.ctx, id); }
  photoFiles(id: number): PhotoFile[] { return files.photoFiles(this.ctx, id); }
  listPhotos(opts?: files.ListPhotosOptions): Photo[] { return files.listPhotos(this.ctx, opts); }

  // captions
  addAiCaption(photoId: number, input: AiCaptionInput): Caption { return captions.addAiCaption(this.ctx, photoId, input); }
  setUserCaption(photoId: number, text: string): Caption { return captions.setUserCaption(this.ctx, photoId, text); }
  currentCaption(photoId: number): Caption | undefined { return captions.currentCaption(this.ctx, photoId); }
  captionHistory(photoId: number): Caption[] { return captions.captionHistory(this.ctx, photoId); }

  // tags
  addAiTags(photoId: number, list: readonly tags.AiTag[]): number { return tags.addAiTags(this.ctx, photoId, list); }
  replaceAiSuggestions(photoId: number, list: readonly tags.AiTag[]): number { return tags.replaceAiSuggestions(this.ctx, photoId, list); }
  addUserTag(photoId: number, label: string): Tag { return tags.addUserTag(this.ctx, photoId, label); }
  acceptTag(photoId: number, label: string): Tag { return tags.acceptTag(this.ctx, photoId, label); }
  rejectTag(photoId: number, label: string): Tag { return tags.rejectTag(this.ctx, photoId, label); }
  tagsOf(photoId: number): Tag[] { return tags.tagsOf(this.ctx, photoId); }
  allTags(photoId: number): Tag[] { return tags.allTags(this.ctx, photoId); }

  // embeddings (retrieval): photos' query vectors per model (int8 by default) and cached text vectors
  setEmbedding(photoId: number, modelId: string, vectors: Float32Array, shape: embeddings.EmbeddingShape): void {
    embeddings.setEmbedding(this.ctx, photoId, modelId, vectors, shape);
  }
  embedding(photoId: number, modelId: string): Float32Array | undefined { return embeddings.embedding(this.ctx, photoId, modelId); }
  storedEmbedding(photoId: number, modelId: string): embeddings.StoredEmbedding | undefined { return embeddings.storedEmbedding(this.ctx, photoId, modelId); }
  hasEmbedding(photoId: number, modelId: string): boolean { return embeddings.hasEmbedding(this.ctx, photoId, modelId); }
  embeddingsOf(modelId: string): Generator<embeddings.StoredEmbedding> { return embeddings.embeddingsOf(this.ctx, modelId); }
  embeddingCount(modelId: string): number { return embeddings.embeddingCount(this.ctx, modelId); }
  photosWithoutEmbedding(modelId: string, limit: number, afterId?: number): embeddings.PhotoToEmbed[] {
    return embeddings.photosWithoutEmbedding(this.ctx, modelId, limit, afterId);
  }
  missingEmbeddingCount(modelId: string): number { return embeddings.missingEmbeddingCount(this.ctx, modelId); }
  textEmbeddings(modelId: string, texts: readonly string[]): Map<string, Float32Array> { return embeddings.textEmbeddings(this.ctx, modelId, texts); }
  storeTextEmbeddings(modelId: string, entries: readonly (readonly [string, Float32Array])[]): void {
    embeddings.storeTextEmbeddings(this.ctx, modelId, entries);
  }

  // reports for views
  latestJob(photoId: number): reports.JobSnapshot | undefined { return reports.latestJob(this.ctx, photoId); }
  folderCounts(folderId: number): reports.FolderCounts { return reports.folderCounts(this.ctx, folderId); }
  libraryCounts(): reports.LibraryCounts { return reports.libraryCounts(this.ctx); }

  // the user's tag vocabulary entries
  upsertVocabularyRow(row: reports.VocabularyRow): void { reports.upsertVocabularyRow(this.ctx, row); }
  deleteVocabularyRow(label: string): boolean { return reports.deleteVocabularyRow(this.ctx, label); }
  vocabularyRows(): reports.VocabularyRow[] { return reports.vocabularyRows(this.ctx); }

  // settings (JSON values)
  getSetting<T = unknown>(key: string): T | undefined { return settings.getSetting<T>(this.ctx, key); }
  setSetting(key: string, value: unknown): void { settings.setSetting(this.ctx, key, value); }
  deleteSetting(key: string): boolean { return settings.deleteSetting(this.ctx, key); }

  /**
   * Records what the photo's existing XMP says as the user's own words, except what our provenance
   * namespace marks as the model's: that comes back as an AI caption and AI suggestions (score
   * unknown). Text that was ever a caption of this photo is skipped: it is either already recorded
   * or our own write-back read again, and must not become a 'user' caption or revert a newer edit.
   * Keywords never revive a rejected tag, and a suggestion never demotes an existing tag.
   */
  importUserMetadata(photoId: number, meta: UserMetadata): ImportResult {
    return immediate(this.ctx.db, () => {
      requireRow(this.ctx, 'photos', photoId);
      const result: ImportResult = { captionAdded: false, tagsAdded: 0 };
      const description = meta.description?.trim();
      if (description && !captions.hasCaptionText(this.ctx, photoId, description)) {
        if (meta.descriptionSource === 'ai') {
          // Our sidecars always name the model; 'unknown' only for a hand-made packet that does not.
          captions.addAiCaption(this.ctx, photoId, { text: description, modelId: meta.descriptionModel?.trim() || 'unknown' });
        } else {
          captions.setUserCaption(this.ctx, photoId, description);
        }
        result.captionAdded = true;
      }
      const suggested = (meta.aiSubjects ?? []).filter((s) => s.trim() !== '');
      const isSuggested = new Set(suggested.map((s) => tags.cleanLabel(s).toLowerCase()));
      for (const label of suggested) if (tags.addImportedSuggestion(this.ctx, photoId, label)) result.tagsAdded++;
      for (const subject of meta.subjects ?? []) {
        if (subject.trim() === '' || isSuggested.has(tags.cleanLabel(subject).toLowerCase())) continue;
        const existing = tags.findTag(this.ctx, photoId, subject);
        if (existing?.state === 'rejected' || existing?.state === 'accepted') continue;
        // New, or a suggestion the keyword confirms.
        tags.addUserTag(this.ctx, photoId, subject);
        if (!existing) result.tagsAdded++;
      }
      return result;
    });
  }
}
