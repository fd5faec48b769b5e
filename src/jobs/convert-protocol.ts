// The message protocol between the app and a converter child process (src/jobs/converter-host.ts ↔
// convert-worker-main.ts): one child per conversion, so one `convert` and maybe a `cancel`, answered
// by `progress` messages and one `result` or `error`. Zod schemas because each side validates what it
// receives. No Node imports (like protocol.ts).
import { z } from 'zod';
import type { ErrorData } from '../shared/errors.ts';

const Id = z.string().min(1).max(200);

export const CONVERT_WEIGHTS = ['fp32', 'int8', 'int4'] as const;
export type ConvertWeights = (typeof CONVERT_WEIGHTS)[number];

// ── host → child ───────────────────────────────────────────────────────────────────────────────
export const ConvertRequestSchema = z.strictObject({
  type: z.literal('convert'),
  id: Id,
  checkpointDir: z.string().min(1),
  outDir: z.string().min(1),
  weights: z.enum(CONVERT_WEIGHTS),
  /** Quantization block size (quant-plan.ts checks it is a power of two ≥ 16). */
  blockSize: z.number().int().positive().optional(),
});
export const ConvertCancelSchema = z.strictObject({ type: z.literal('cancel'), id: Id });
export const ConvertHostMessageSchema = z.discriminatedUnion('type', [ConvertRequestSchema, ConvertCancelSchema]);

// ── child → host ───────────────────────────────────────────────────────────────────────────────
/** What the host learns of the written model without reading model.json itself. */
export const ConvertSummarySchema = z.strictObject({
  kind: z.string(),
  architecture: z.string(),
  weights: z.enum(CONVERT_WEIGHTS),
  /** Files in the model folder and their total size. */
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
const ErrorDataSchema = z.object({ code: z.string(), message: z.string(), file: z.string().optional() });

export const ConvertWorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int() }),
  z.object({ type: z.literal('progress'), id: Id, stage: z.string(), part: z.string().optional() }),
  z.object({ type: z.literal('result'), id: Id, dir: z.string(), manifest: ConvertSummarySchema }),
  // id is null when the offending message carried no usable id.
  z.object({ type: z.literal('error'), id: Id.nullable(), error: ErrorDataSchema }),
]);

export type ConvertRequest = z.infer<typeof ConvertRequestSchema>;
export type ConvertHostMessage = z.infer<typeof ConvertHostMessageSchema>;
export type ConvertSummary = z.infer<typeof ConvertSummarySchema>;
export type ParsedConvertWorkerMessage = z.infer<typeof ConvertWorkerMessageSchema>;
export type ConvertWorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'progress'; id: string; stage: string; part?: string }
  | { type: 'result'; id: string; dir: string; manifest: ConvertSummary }
  | { type: 'error'; id: string | null; error: ErrorData };
