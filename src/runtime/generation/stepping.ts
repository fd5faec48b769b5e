// Guarded calls into the DecoderStepper shared by the decoding loops: cancellation is checked before
// every model step (so an abort costs at most the step already running), and the logits' shape is
// verified, because a stepper returning the wrong row count would otherwise silently decode garbage.
import { AppError } from '../../shared/errors.ts';
import type { DecoderStepper } from './types.ts';

export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AppError('cancelled', 'Text generation was cancelled', { cause: signal.reason });
  }
}

function checkLength(logits: unknown, rows: number, vocab: number, call: string): Float32Array {
  if (!(logits instanceof Float32Array) || logits.length !== rows * vocab) {
    const got = logits instanceof Float32Array ? `length ${logits.length}` : typeof logits;
    throw new AppError(
      'inference_failed',
      `Decoder ${call} returned ${got}, expected a Float32Array of ${rows} × ${vocab} logits`,
    );
  }
  return logits;
}

export async function prefillChecked(stepper: DecoderStepper, signal: AbortSignal | undefined): Promise<Float32Array> {
  throwIfCancelled(signal);
  return checkLength(await stepper.prefill(), 1, stepper.vocabSize, 'prefill()');
}

export async function nextChecked(
  stepper: DecoderStepper,
  tokens: readonly number[],
  parents: readonly number[],
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  throwIfCancelled(signal);
  return checkLength(await stepper.next(tokens, parents), tokens.length, stepper.vocabSize, 'next()');
}
