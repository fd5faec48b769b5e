// The weights every graph of a conversion will ask for, learned by building the graphs once from
// the checkpoint's headers alone (no weight is read): for each HF tensor, which graph parts use it
// through which recipe. A streamed conversion then transforms each tensor as it arrives.
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import type { TensorShapes } from './onnx/layers.ts';
import { outputBytes, type Recipe, type WeightOutput, type Weights } from './onnx/weights.ts';

export interface WeightUse {
  part: string;
  recipe: Recipe;
  outputs: WeightOutput[];
}

export class WeightPlan {
  private readonly uses = new Map<string, WeightUse[]>();
  private readonly claimed = new Set<string>(); // `${part}\0${output}`

  constructor(private readonly shapes: TensorShapes) {}

  /** A Weights for building `part` in planning mode: records uses, adds no initializer. */
  weightsFor(part: string): Weights {
    return {
      use: (_g: GraphBuilder, source: string, recipe: Recipe) => {
        const outputs = recipe.outputs(source, this.shapes.shape(source));
        const fresh = outputs.filter((o) => !this.claimed.has(`${part}\0${o.name}`));
        if (fresh.length) {
          fresh.forEach((o) => this.claimed.add(`${part}\0${o.name}`));
          const list = this.uses.get(source) ?? this.uses.set(source, []).get(source)!;
          list.push({ part, recipe, outputs: fresh });
        }
        return outputs.map((o) => o.name);
      },
    };
  }

  usesOf(source: string): readonly WeightUse[] {
    return this.uses.get(source) ?? [];
  }

  sources(): string[] {
    return [...this.uses.keys()];
  }

  /** Bytes of every output, per part (before alignment padding). */
  bytesByPart(): Map<string, number> {
    const out = new Map<string, number>();
    for (const list of this.uses.values()) {
      for (const u of list) out.set(u.part, (out.get(u.part) ?? 0) + u.outputs.reduce((a, o) => a + outputBytes(o), 0));
    }
    return out;
  }

  /** Upper bound of the weight files' size: outputs plus page alignment of each. */
  diskBytes(align: number): number {
    let total = 0;
    for (const list of this.uses.values()) for (const u of list) for (const o of u.outputs) total += outputBytes(o) + align;
    return total;
  }
}
