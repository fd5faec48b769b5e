// What a BLIP-2 language-model family gives the runtime (see language-models.ts for the registry),
// and small helpers the families share: opening a graph, checking prompt ids, the no-tokenizer error.
import { join } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import type { DecoderStepper } from '../generation/types.ts';
import { type SessionSettings, createSession, type ort } from '../session.ts';
import type { TextTokenizer } from '../tokenizer.ts';
import type { ChatTurn } from './prompts.ts';

/** The task prompts in the wording the family's BLIP-2 checkpoints were evaluated with. */
export interface TaskPrompts {
  question(question: string): string;
  chat(history: readonly ChatTurn[], question: string): string;
}

/** The text side of a language model: tokenizer, prompts and wording. Needs no ONNX session. */
export interface LanguageText {
  /** 'opt', 't5': what answered, for people. */
  readonly type: string;
  readonly tokenizer: TextTokenizer | null;
  /** Why text cannot be tokenized (no tokenizer, or one this runtime cannot read). */
  readonly tokenizerMissing: AppError;
  readonly prompts: TaskPrompts;
  /** Tokens HF's logits processors see before the generated ones (the decoder start of T5). */
  readonly historyPrefix: readonly number[];
  /** A text prompt's ids as HF's processor gives them; no text → the family's empty prompt. */
  promptIds(text: string | undefined): number[];
  /** Caption/answer text of generated ids ('' without a tokenizer). */
  decode(ids: readonly number[]): string;
}

/** The graphs of a language model, open in ONNX Runtime. */
export interface LanguageGraphs {
  /** A generation over one image's projected queries [queries × hidden] and prompt ids. Throws
   *  'invalid_argument' at once for ids outside the vocabulary or a prompt that does not fit. */
  stepper(prefix: Float32Array, promptIds: readonly number[]): DecoderStepper;
  dispose(): Promise<void>;
}

export interface LanguageModelFamily {
  /** Graphs this family runs besides vision and qformer (keys of manifest.graphs). */
  readonly graphs: readonly string[];
  /** The tokenizer and wording (cheap; kept while the graphs come and go in low-memory mode). */
  text(dir: string, manifest: ModelManifest): Promise<LanguageText>;
  /** Opens the graphs (gigabytes for the real checkpoints). */
  open(dir: string, manifest: ModelManifest, settings: SessionSettings): Promise<LanguageGraphs>;
}

/** A session for one of the folder's graphs (its checksums identify it for the optimized-graph cache). */
export function openGraph(dir: string, manifest: ModelManifest, name: string, settings: SessionSettings): Promise<ort.InferenceSession> {
  const file = manifest.graphs[name].file;
  return createSession(join(dir, file), settings, { sha256: manifest.files[file].sha256 + (manifest.files[`${file}.data`]?.sha256 ?? '') });
}

/** Opens several graphs at once; when one fails, releases those that opened and rethrows. */
export async function openGraphs(dir: string, manifest: ModelManifest, names: readonly string[], settings: SessionSettings): Promise<ort.InferenceSession[]> {
  const opened = await Promise.allSettled(names.map((n) => openGraph(dir, manifest, n, settings)));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return opened.map((r) => (r as PromiseFulfilledResult<ort.InferenceSession>).value);
  await Promise.allSettled(opened.map((r) => r.status === 'fulfilled' && r.value.release()));
  throw failed.reason;
}

/** Prompt ids must index the embedding table and, with the queries, fit the model's positions. */
export function checkPrompt(ids: readonly number[], lang: { vocabRows: number; maxPositions: number }, queries: number, what: string): void {
  if (ids.length === 0) throw new AppError('invalid_argument', 'the prompt has no tokens');
  const bad = ids.find((id) => !Number.isSafeInteger(id) || id < 0 || id >= lang.vocabRows);
  if (bad !== undefined) throw new AppError('invalid_argument', `prompt token id ${bad} is outside the vocabulary (0-${lang.vocabRows - 1})`);
  if (queries + ids.length > lang.maxPositions) {
    throw new AppError('invalid_argument', `the prompt is too long: ${ids.length} tokens after the ${queries} image queries exceed the ${what}'s ${lang.maxPositions} positions`);
  }
}

/** The reason text prompts cannot be used when a folder has no tokenizer files. */
export function noTokenizer(dir: string): AppError {
  return new AppError('tokenizer_missing', 'this model has no tokenizer files, so text prompts cannot be used; pass token ids instead', { file: dir });
}
