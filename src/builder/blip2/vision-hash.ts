// A fingerprint of a checkpoint's vision encoder (every `vision_model.*` tensor: name, shape and
// float32 content), recorded in model.json as source.visionSha256. The captioning and retrieval
// checkpoints carry the same frozen ViT-g; equal fingerprints let the runtime share one vision pass.
// Each tensor is hashed as it streams past (in any order); the digest sorts them by name.
import { createHash } from 'node:crypto';
import { AppError } from '../../shared/errors.ts';

const PREFIX = 'vision_model.';

export interface TensorHash { shape: number[]; sha256: string }

export class VisionHasher {
  private readonly tensors = new Map<string, TensorHash>();

  static covers(name: string): boolean {
    return name.startsWith(PREFIX);
  }

  /** Hashes one vision tensor's float32 values; returns the record (for a resumable journal). */
  add(name: string, shape: number[], data: Float32Array): TensorHash {
    const sha256 = createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
    const rec = { shape: [...shape], sha256 };
    this.tensors.set(name, rec);
    return rec;
  }

  restore(name: string, rec: TensorHash): void {
    this.tensors.set(name, rec);
  }

  /** The fingerprint over all vision tensors of `names`; undefined when there are none. */
  digest(names: readonly string[]): string | undefined {
    const vision = names.filter(VisionHasher.covers).sort();
    if (vision.length === 0) return undefined;
    const hash = createHash('sha256');
    for (const name of vision) {
      const t = this.tensors.get(name);
      if (!t) throw new AppError('checkpoint_invalid', `vision tensor "${name}" was never received`);
      hash.update(`${name}\t${t.shape.join('x')}\t${t.sha256}\n`);
    }
    return hash.digest('hex');
  }
}
