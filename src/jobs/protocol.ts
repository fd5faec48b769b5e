// The message protocol between the app and the inference worker (a Node child process today, an
// Electron utility process later: the messages are the same, only the transport differs). Plain
// types plus zod schemas, because each side validates what it receives: a message that crossed a
// process boundary is data, never trusted code. No Node imports, so the renderer/preload may use it.
import { z } from 'zod';
import type { ErrorData } from '../shared/errors.ts';

/** Mirrors runtime/session.ts EXECUTION_PROVIDERS (checked at compile time in worker-service.ts). */
export const WIRE_EXECUTION_PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;

const Id = z.string().min(1).max(200);
const Count = z.number().int().nonnegative();
const Real = z.number().finite();

export const SessionSettingsSchema = z.strictObject({
  threads: Count.optional(),
  executionProvider: z.enum(WIRE_EXECUTION_PROVIDERS).optional(),
  cacheDir: z.string().min(1).optional(),
});

/** Generation options without callbacks (those stay in the host: onToken becomes `token` messages,
 *  signal becomes `cancel`). Strict, so a misspelt option fails instead of silently defaulting;
 *  value ranges are checked by the runtime's own option validation. */
export const WireGenerationOptionsSchema = z.strictObject({
  maxNewTokens: Count.optional(),
  minNewTokens: Count.optional(),
  numBeams: Count.optional(),
  lengthPenalty: Real.optional(),
  earlyStopping: z.union([z.boolean(), z.literal('never')]).optional(),
  repetitionPenalty: Real.optional(),
  noRepeatNgramSize: Count.optional(),
  doSample: z.boolean().optional(),
  temperature: Real.optional(),
  topK: Count.optional(),
  topP: Real.optional(),
  seed: z.number().int().optional(),
});

export const CaptionOptionsSchema = WireGenerationOptionsSchema.extend({
  prompt: z.string().max(10_000).optional(),
  promptIds: z.array(Count).min(1).max(2048).optional(),
});

export const ChatTurnSchema = z.strictObject({ question: z.string(), answer: z.string() });

// ── host → worker ──────────────────────────────────────────────────────────────────────────────
export const LoadRequestSchema = z.strictObject({
  type: z.literal('load'), id: Id, modelDir: z.string().min(1), settings: SessionSettingsSchema.default({}),
});
export const CaptionRequestSchema = z.strictObject({
  type: z.literal('caption'), id: Id, imagePath: z.string().min(1), options: CaptionOptionsSchema.default({}),
});
export const AskRequestSchema = z.strictObject({
  type: z.literal('ask'), id: Id, imagePath: z.string().min(1), question: z.string(),
  history: z.array(ChatTurnSchema).max(100).optional(), options: WireGenerationOptionsSchema.default({}),
});
/** `id` is the id of the request to cancel; that request then ends with an error 'cancelled'. */
export const CancelRequestSchema = z.strictObject({ type: z.literal('cancel'), id: Id });
export const ShutdownRequestSchema = z.strictObject({ type: z.literal('shutdown') });

export const HostMessageSchema = z.discriminatedUnion('type', [
  LoadRequestSchema, CaptionRequestSchema, AskRequestSchema, CancelRequestSchema, ShutdownRequestSchema,
]);

// ── worker → host ──────────────────────────────────────────────────────────────────────────────
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const GeneratedTextSchema = z.object({
  text: z.string(), tokenIds: z.array(z.number().int()), endedWithEos: z.boolean(), score: z.number().optional(),
});
export const ModelInfoSchema = z.object({
  dir: z.string(), kind: z.string(), architecture: z.string(), weights: z.string(),
  imageSize: z.number().int(), queries: z.number().int(), hasTokenizer: z.boolean(), createdAt: z.string(),
});
const ErrorDataSchema = z.object({ code: z.string(), message: z.string(), file: z.string().optional() });

export const WorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int() }),
  z.object({ type: z.literal('token'), id: Id, tokenId: z.number().int(), text: z.string() }),
  z.object({ type: z.literal('result'), id: Id, value: z.union([GeneratedTextSchema, ModelInfoSchema]) }),
  // id is null when the offending message carried no usable id (garbage on the channel).
  z.object({ type: z.literal('error'), id: Id.nullable(), error: ErrorDataSchema }),
  z.object({ type: z.literal('log'), level: z.enum(LOG_LEVELS), message: z.string() }),
]);

export type SessionSettingsData = z.infer<typeof SessionSettingsSchema>;
export type WireGenerationOptions = z.infer<typeof WireGenerationOptionsSchema>;
export type CaptionOptions = z.input<typeof CaptionOptionsSchema>;
export type ChatTurnData = z.infer<typeof ChatTurnSchema>;
export type LoadRequest = z.input<typeof LoadRequestSchema>;
export type CaptionRequest = z.input<typeof CaptionRequestSchema>;
export type AskRequest = z.input<typeof AskRequestSchema>;
export type CancelRequest = z.infer<typeof CancelRequestSchema>;
export type ShutdownRequest = z.infer<typeof ShutdownRequestSchema>;
/** What the host sends (optional fields may be omitted; the worker fills defaults when parsing). */
export type HostMessage = LoadRequest | CaptionRequest | AskRequest | CancelRequest | ShutdownRequest;
/** A request after validation, defaults filled. */
export type ParsedHostMessage = z.infer<typeof HostMessageSchema>;

export type ParsedWorkerMessage = z.infer<typeof WorkerMessageSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type GeneratedTextData = z.infer<typeof GeneratedTextSchema>;
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

export type WorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'token'; id: string; tokenId: number; text: string }
  | { type: 'result'; id: string; value: GeneratedTextData | ModelInfo }
  | { type: 'error'; id: string | null; error: ErrorData }
  | { type: 'log'; level: LogLevel; message: string };

/** One line naming the first problem of a failed parse (the full issue list is noise for a person). */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const path = issue.path.length ? `${issue.path.join('.')}: ` : '';
  return `${path}${issue.message}`;
}

/** The id of a message that failed validation, when it has a usable one, so the error can be routed. */
export function salvageId(raw: unknown): string | null {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof raw === 'object' && typeof id === 'string' && Id.safeParse(id).success ? id : null;
}
