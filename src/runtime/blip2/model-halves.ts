// Which halves of a captioning model are open in ONNX Runtime: the image side (vision encoder and
// Q-Former) and the language model. Normally both stay open. In low-memory mode one at a time:
// opening one releases the other first, so the process peaks at the larger half instead of the sum
// (blip2-opt-2.7b int4: about 1.1 GB and 2.7 GB). Each switch re-loads a half (ONNX Runtime re-packs
// its weights: seconds), so callers batch: encode several photos, then generate for all of them
// (the CLI's caption; the worker's prefetch). A load opens both halves once either way, so a model
// whose language half cannot open fails to load instead of failing every caption later.
import { AppError } from '../../shared/errors.ts';
import type { ort } from '../session.ts';
import type { LanguageGraphs } from './language-model.ts';

export interface ImageGraphs {
  vision: ort.InferenceSession;
  qformer: ort.InferenceSession;
}

export type Half = 'image' | 'language';

interface Openers {
  image(): Promise<ImageGraphs>;
  language(): Promise<LanguageGraphs>;
}

interface Graphs {
  image: ImageGraphs;
  language: LanguageGraphs;
}

export class ModelHalves {
  private readonly open: { image?: ImageGraphs; language?: LanguageGraphs } = {};
  /** In low-memory mode every use waits for the one before it: a half is never released under a run. */
  private queue: Promise<unknown> = Promise.resolve();
  /** How many times a half was opened (the first opening of each included). */
  opened = 0;
  private disposed = false;

  private constructor(private readonly openers: Openers, readonly lowMemory: boolean) {}

  /**
   * Opens both halves, one after the other. In low-memory mode the language model is opened and
   * closed again, so that a load only succeeds when each half can open, and the image half (the
   * first a caption needs) is left open.
   */
  static async create(openers: Openers, lowMemory: boolean): Promise<ModelHalves> {
    const halves = new ModelHalves(openers, lowMemory);
    try {
      // Low memory: the language model first, closed again when the image half opens.
      if (lowMemory) await halves.ensure('language');
      await halves.ensure('image');
      if (!lowMemory) await halves.ensure('language');
      return halves;
    } catch (err) {
      // A failed load must not keep gigabytes of sessions alive.
      await halves.dispose();
      throw err;
    }
  }

  /** The halves open right now. */
  get loaded(): Half[] {
    return (['image', 'language'] as const).filter((h) => this.open[h]);
  }

  /** Runs `fn` with a half open (in low-memory mode, the other one closed first). */
  use<H extends Half, T>(half: H, fn: (graphs: Graphs[H]) => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new AppError('model_missing', 'the model was released'));
    if (!this.lowMemory) return fn(this.open[half] as Graphs[H]);
    const run = this.queue.then(async () => {
      // Disposed while this use waited: open nothing again.
      if (this.disposed) throw new AppError('model_missing', 'the model was released');
      return fn((await this.ensure(half)) as Graphs[H]);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue;
    await Promise.all([this.close('image'), this.close('language')]);
  }

  private async ensure(half: Half): Promise<ImageGraphs | LanguageGraphs> {
    const current = this.open[half];
    if (current) return current;
    if (this.lowMemory) await this.close(half === 'image' ? 'language' : 'image');
    const graphs = half === 'image' ? await this.openers.image() : await this.openers.language();
    this.opened++;
    (this.open as Record<Half, unknown>)[half] = graphs;
    return graphs;
  }

  private async close(half: Half): Promise<void> {
    const graphs = this.open[half];
    if (!graphs) return;
    delete this.open[half];
    if (half === 'image') await releaseImage(graphs as ImageGraphs);
    else await (graphs as LanguageGraphs).dispose();
  }
}

async function releaseImage(g: ImageGraphs): Promise<void> {
  await Promise.all([g.vision.release(), g.qformer.release()]);
}
