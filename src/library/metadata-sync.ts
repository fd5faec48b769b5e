// Writes a photo's current caption and tags (accepted, and by default the model's suggestions;
// rejected never) to XMP sidecars (merged, atomic) next to each present copy — and next to the other
// half of a RAW+JPEG pair, which shares the photo's caption (darktable and digiKam open the RAW's own
// IMG_1.CR2.xmp; with photo.xmp naming both halves share one sidecar) — with our provenance
// namespace saying which of them are the model's (so a new catalog over these files can tell AI
// from the user again). Originals are never modified. Idempotent, so a run killed between the
// catalog commit and the sidecar write is repaired by `syncAll` on the next start.
import { toErrorData, type ErrorData } from '../shared/errors.ts';
import type { Catalog } from './catalog/catalog.ts';
import { pairHalvesOf } from './scan/companions.ts';
import { readSidecar, sidecarPath, writeSidecar, type SidecarNaming, type XmpProvenance } from './xmp/index.ts';
import { existsSync } from 'node:fs';

export type XmpMode = 'off' | 'sidecar';

export interface MetadataSettings {
  xmp: XmpMode;
  sidecarNaming: SidecarNaming;
  /** Also write the tags as lr:hierarchicalSubject (Lightroom's keyword tree), one level deep. */
  hierarchicalSubjects?: boolean;
  /** Also write the model's suggested (not yet accepted) tags; default true. Rejected tags never. */
  includeSuggestedTags?: boolean;
}

export class MetadataSync {
  constructor(private readonly catalog: Catalog, private readonly settings: MetadataSettings, private readonly onProblem: (e: ErrorData) => void = () => {}) {}

  /** Writes one photo's sidecars; returns how many were written. */
  async write(photoId: number): Promise<number> {
    if (this.settings.xmp === 'off') return 0;
    const caption = this.catalog.currentCaption(photoId);
    const suggested = this.settings.includeSuggestedTags ?? true;
    const tags = this.catalog.tagsOf(photoId).filter((t) => t.state === 'accepted' || (suggested && t.state === 'suggested'));
    const subjects = tags.map((t) => t.label);
    // An accepted AI tag is the user's choice now; only suggestions are marked as the model's.
    const provenance: XmpProvenance = {
      aiSubjects: tags.filter((t) => t.state === 'suggested').map((t) => t.label),
      ...(caption ? { descriptionSource: caption.provenance } : {}),
      ...(caption?.provenance === 'ai' && caption.modelId ? { descriptionModel: caption.modelId } : {}),
    };
    let written = 0;
    const present = this.catalog.photoPaths(photoId).filter((p) => existsSync(p));
    // A pair half the catalog holds as a photo of its own (present) keeps its own sidecar.
    const halves = present.flatMap((p) => pairHalvesOf(p)).filter((h) => {
      const f = this.catalog.fileByPath(h);
      return !f || f.state !== 'present' || f.photoId === photoId;
    });
    const sidecars = new Set([...present, ...halves].map((p) => sidecarPath(p, this.settings.sidecarNaming)));
    for (const sidecar of sidecars) {
      try {
        if (await this.upToDate(sidecar, caption?.text, subjects, provenance)) continue;
        await writeSidecar(sidecar, {
          description: caption?.text ?? undefined,
          subjects,
          provenance,
          ...(this.settings.hierarchicalSubjects ? { hierarchicalSubjects: subjects } : {}),
        });
        written++;
      } catch (e) {
        this.onProblem(toErrorData(e));
      }
    }
    return written;
  }

  /** Brings every captioned photo's sidecars up to date (after a crash or a setting change). */
  async syncAll(): Promise<number> {
    if (this.settings.xmp === 'off') return 0;
    let written = 0;
    for (let offset = 0; ; offset += 500) {
      const page = this.catalog.listPhotos({ limit: 500, offset, state: 'active' });
      if (!page.length) break;
      for (const p of page) if (this.catalog.currentCaption(p.id)) written += await this.write(p.id);
    }
    return written;
  }

  /**
   * A write replaces dc:subject as a whole, so a sidecar is current only when it holds exactly these
   * keywords: one still holding a rejected tag or a withdrawn suggestion (our earlier write) is not.
   * Likewise for provenance: an accepted suggestion, or a sidecar written before we recorded it.
   */
  private async upToDate(sidecar: string, description: string | undefined, subjects: string[], provenance: XmpProvenance): Promise<boolean> {
    if (!existsSync(sidecar)) return false;
    const cur = await readSidecar(sidecar);
    const key = (list: readonly string[]) => [...new Set(list.map((s) => s.toLowerCase()))].sort().join('\n');
    const was = cur.provenance ?? { aiSubjects: [] };
    // With no caption the sidecar's description is not ours to describe (see XmpUpdate.provenance).
    const sameCaption = description === undefined || (was.descriptionSource === provenance.descriptionSource && was.descriptionModel === provenance.descriptionModel);
    return (cur.description ?? undefined) === description && key(cur.subjects) === key(subjects) && key(was.aiSubjects) === key(provenance.aiSubjects) && sameCaption;
  }
}
