// The catalog's public row types, in camelCase; the modules map the snake_case columns onto these.
// Plain data only, so the types can later cross the IPC boundary unchanged.

export type FolderStatus = 'online' | 'offline';
export type PhotoState = 'active' | 'missing';
export type FileState = 'present' | 'missing' | 'offline';
export type Provenance = 'ai' | 'user';
export type TagState = 'accepted' | 'rejected' | 'suggested';

export interface Folder {
  id: number;
  path: string;
  status: FolderStatus;
  addedAt: number;
  lastScanAt: number | null;
}

export interface Photo {
  id: number;
  hash: string;
  size: number;
  width: number | null;
  height: number | null;
  format: string | null;
  exifDate: string | null;
  firstSeen: number;
  /** 'missing' once no copy is present or offline; captions and tags stay for a later re-add. */
  state: PhotoState;
}

/** One path of a photo, with what the scanner needs to skip an unchanged file without hashing. */
export interface PhotoFile {
  id: number;
  path: string;
  photoId: number;
  folderId: number;
  hash: string;
  size: number;
  mtimeMs: number;
  seenAt: number;
  state: FileState;
}

export interface RecordFileInput {
  path: string;
  folderId: number;
  hash: string;
  size: number;
  mtimeMs: number;
  width?: number;
  height?: number;
  format?: string;
  exifDate?: string;
}

export interface RecordFileResult {
  photoId: number;
  /** A photo with this content was not in the catalog before. */
  created: boolean;
  /** The content was known at another path that is gone: the old path now reads this one. */
  moved: boolean;
  previousPath?: string;
}

export interface Caption {
  id: number;
  photoId: number;
  text: string;
  modelId: string | null;
  prompt: string | null;
  settings: Record<string, unknown> | null;
  provenance: Provenance;
  createdAt: number;
  isCurrent: boolean;
}

export interface AiCaptionInput {
  text: string;
  modelId: string;
  prompt?: string | null;
  settings?: Record<string, unknown> | null;
}

export interface Tag {
  photoId: number;
  label: string;
  provenance: Provenance;
  score: number | null;
  state: TagState;
  createdAt: number;
}

export interface UserMetadata {
  /** dc:description (or similar) found in the photo's existing XMP. */
  description?: string;
  /** dc:subject keywords. */
  subjects?: string[];
  /**
   * Keywords our own earlier write marked as the model's suggestions (photoassistant:aiSubjects):
   * recorded as AI suggestions, never as the user's, even when `subjects` lists them too.
   */
  aiSubjects?: string[];
  /** Who wrote `description`, as our provenance namespace recorded it; absent means the user. */
  descriptionSource?: Provenance;
  /** The model of an AI `description`. */
  descriptionModel?: string;
}

export interface ImportResult {
  captionAdded: boolean;
  tagsAdded: number;
}
