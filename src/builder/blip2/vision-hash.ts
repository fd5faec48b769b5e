// A fingerprint of a checkpoint's vision encoder (every `vision_model.*` tensor: name, shape and
// float32 content), recorded in model.json as source.visionSha256. The captioning and retrieval
// checkpoints carry the same frozen ViT-g; equal fingerprints let the runtime share one vision pass.
// Tensors are hashed as the graph builders read them (no second read of gigabytes); the few a
// builder never reads are read at the end, so the fingerprint always covers all of them.
import { createHash } from 'node:crypto';
import type { TensorSource } from '../onnx/layers.ts';

const PREFIX = 'vision_model.';

export class VisionHasher {
  /** name → sha256 of the tensor's float32 bytes, with its shape. */
  private readonly tensors = new Map<string, { shape: number[]; sha256: string }>();

  /** The same source, hashing each vision tensor the first time it is read. */
  wrap(src: TensorSource): TensorSource {
    return {
      has: (name) => src.has(name),
      shape: (name) => src.shape(name),
      read: (name) => {
        const data = src.read(name);
        if (name.startsWith(PREFIX) && !this.tensors.has(name)) this.record(name, src.shape(name), data);
        return data;
      },
    };
  }

  /** The fingerprint over all vision tensors of `names`; undefined when there are none. */
  digest(src: TensorSource, names: readonly string[]): string | undefined {
    const vision = names.filter((n) => n.startsWith(PREFIX)).sort();
    if (vision.length === 0) return undefined;
    const hash = createHash('sha256');
    for (const name of vision) {
      if (!this.tensors.has(name)) this.record(name, src.shape(name), src.read(name));
      const t = this.tensors.get(name)!;
      hash.update(`${name}\t${t.shape.join('x')}\t${t.sha256}\n`);
    }
    return hash.digest('hex');
  }

  private record(name: string, shape: number[], data: Float32Array): void {
    const sha256 = createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
    this.tensors.set(name, { shape: [...shape], sha256 });
  }
}
