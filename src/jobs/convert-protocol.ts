// The message protocol between the app and a converter child process (src/jobs/converter-host.ts ↔
// convert-worker-main.ts): one child per job, so one request and maybe a `cancel`. A `convert` is
// answered by `progress` messages and one `result`; a `pull` (download from the Hugging Face Hub,
// converting while it downloads) by `pull-progress` messages and one `pulled`; a `planPull` (what a
// pull will cost, read from the Hub) by one `plan`; any of them by an `error` instead. The child does
// all the fetching: the app's main process and its window never contact the Hub. Zod schemas because
// each side validates what it receives. No Node imports (like protocol.ts).
import { z } from 'zod';
import type { ErrorData } from '../shared/errors.ts';
import type { PullStage } from '../shared/app-types.ts';

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
/** Where and what to pull; the token (for gated or private repos) is never logged or echoed. */
const HubJob = {
  id: Id,
  /** A known model's alias or any Hub repo id (owner/name). */
  ref: z.string().min(1).max(300),
  modelsDir: z.string().min(1),
  revision: z.string().min(1).max(200).optional(),
  quant: z.enum(CONVERT_WEIGHTS).optional(),
  endpoint: z.string().regex(/^https?:\/\//, 'an http(s) URL').max(2000),
  token: z.string().min(1).max(1000).optional(),
};
export const PullRequestSchema = z.strictObject({ type: z.literal('pull'), ...HubJob });
export const PlanPullRequestSchema = z.strictObject({ type: z.literal('planPull'), ...HubJob });
export const ConvertCancelSchema = z.strictObject({ type: z.literal('cancel'), id: Id });
export const ConvertHostMessageSchema = z.discriminatedUnion('type', [ConvertRequestSchema, PullRequestSchema, PlanPullRequestSchema, ConvertCancelSchema]);

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

export const PULL_STAGES = ['resolving', 'headers', 'downloading', 'finishing', 'verifying', 'done'] as const satisfies readonly PullStage[];
const Bytes = z.number().int().nonnegative();
/** src/models/transfer-progress.ts's PullProgress. */
export const PullProgressSchema = z.strictObject({
  stage: z.enum(PULL_STAGES),
  repo: z.string(),
  file: z.string().optional(),
  bytesDone: Bytes,
  bytesTotal: Bytes,
  rate: z.number().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable(),
  resumed: z.boolean().optional(),
});
/** What the host learns of a pulled model (src/models/pull.ts's PullResult, without the manifest). */
export const PulledSummarySchema = z.strictObject({
  dir: z.string(),
  /** How captions will name it (modelLabel): `repo@commit7 weights`. */
  label: z.string(),
  kind: z.string(),
  weights: z.enum(CONVERT_WEIGHTS),
  repo: z.string(),
  commit: z.string(),
  bytes: Bytes,
  downloadedBytes: Bytes,
  resumed: z.boolean(),
  alreadyPresent: z.boolean(),
});
/** src/models/pull.ts's PullPlan. */
export const PullPlanSchema = z.strictObject({
  repo: z.string(),
  commit: z.string(),
  name: z.string(),
  preconverted: z.boolean(),
  downloadBytes: Bytes,
  diskBytes: Bytes,
  ramBytes: Bytes,
  freeBytes: Bytes,
});

export const ConvertWorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int() }),
  z.object({ type: z.literal('progress'), id: Id, stage: z.string(), part: z.string().optional() }),
  z.object({ type: z.literal('result'), id: Id, dir: z.string(), manifest: ConvertSummarySchema }),
  z.object({ type: z.literal('pull-progress'), id: Id, progress: PullProgressSchema }),
  z.object({ type: z.literal('pulled'), id: Id, result: PulledSummarySchema }),
  z.object({ type: z.literal('plan'), id: Id, plan: PullPlanSchema }),
  // id is null when the offending message carried no usable id.
  z.object({ type: z.literal('error'), id: Id.nullable(), error: ErrorDataSchema }),
]);

export type ConvertRequest = z.infer<typeof ConvertRequestSchema>;
export type PullRequest = z.infer<typeof PullRequestSchema>;
export type PlanPullRequest = z.infer<typeof PlanPullRequestSchema>;
export type PullProgressMessage = z.infer<typeof PullProgressSchema>;
export type PulledSummary = z.infer<typeof PulledSummarySchema>;
export type PullPlanSummary = z.infer<typeof PullPlanSchema>;
export type ConvertHostMessage = z.infer<typeof ConvertHostMessageSchema>;
export type ConvertSummary = z.infer<typeof ConvertSummarySchema>;
export type ParsedConvertWorkerMessage = z.infer<typeof ConvertWorkerMessageSchema>;
export type ConvertWorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'progress'; id: string; stage: string; part?: string }
  | { type: 'result'; id: string; dir: string; manifest: ConvertSummary }
  | { type: 'pull-progress'; id: string; progress: PullProgressMessage }
  | { type: 'pulled'; id: string; result: PulledSummary }
  | { type: 'plan'; id: string; plan: PullPlanSummary }
  | { type: 'error'; id: string | null; error: ErrorData };
