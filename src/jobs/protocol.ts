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
  /** Captioning model only: one half open at a time (runtime/blip2/model-halves.ts). */
  lowMemory: z.boolean().optional(),
});
/** Photos encoded per switch of model halves in low-memory mode (the CLI's batch, the worker's
 *  request plus its prefetch). */
export const LOW_MEMORY_BATCH = 16;
/** Photos likely to be asked about next (at most PREFETCH_LIMIT): a low-memory worker that had to
 *  open its image half for a request encodes them too, so a run of photos switches halves once per
 *  LOW_MEMORY_BATCH photos. Other workers ignore them. */
export const PREFETCH_LIMIT = LOW_MEMORY_BATCH - 1;
const Prefetch = z.array(z.string().min(1)).max(PREFETCH_LIMIT).optional();

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
  type: z.literal('caption'), id: Id, imagePath: z.string().min(1), options: CaptionOptionsSchema.default({}), prefetch: Prefetch,
});
export const AskRequestSchema = z.strictObject({
  type: z.literal('ask'), id: Id, imagePath: z.string().min(1), question: z.string(),
  history: z.array(ChatTurnSchema).max(100).optional(), options: WireGenerationOptionsSchema.default({}),
});
// Retrieval (a blip2-itm model held beside the captioning model). Texts are clipped to the
// Q-Former's 32 tokens by the worker; the character bound only keeps a message small.
const RetrievalTexts = z.array(z.string().max(10_000)).max(2048);
export const LoadRetrievalRequestSchema = z.strictObject({
  type: z.literal('loadRetrieval'), id: Id, modelDir: z.string().min(1), settings: SessionSettingsSchema.default({}),
});
export const EmbedTextsRequestSchema = z.strictObject({ type: z.literal('embedTexts'), id: Id, texts: RetrievalTexts });
export const EmbedImageRequestSchema = z.strictObject({ type: z.literal('embedImage'), id: Id, imagePath: z.string().min(1) });
export const ItmRequestSchema = z.strictObject({ type: z.literal('itm'), id: Id, imagePath: z.string().min(1), texts: RetrievalTexts });
/** One decode (and one vision pass when the two models share vision weights) for a caption and/or
 *  the retrieval features; the caption's tokens stream as `token` messages like `caption`. */
export const AnalyzeRequestSchema = z.strictObject({
  type: z.literal('analyze'), id: Id, imagePath: z.string().min(1), caption: CaptionOptionsSchema.optional(), embed: z.boolean(),
  prefetch: Prefetch,
});
/** `id` is the id of the request to cancel; that request then ends with an error 'cancelled'. */
export const CancelRequestSchema = z.strictObject({ type: z.literal('cancel'), id: Id });
export const ShutdownRequestSchema = z.strictObject({ type: z.literal('shutdown') });

export const HostMessageSchema = z.discriminatedUnion('type', [
  LoadRequestSchema, CaptionRequestSchema, AskRequestSchema, CancelRequestSchema, ShutdownRequestSchema,
  LoadRetrievalRequestSchema, EmbedTextsRequestSchema, EmbedImageRequestSchema, ItmRequestSchema, AnalyzeRequestSchema,
]);

// ── worker → host ──────────────────────────────────────────────────────────────────────────────
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const GeneratedTextSchema = z.object({
  text: z.string(), tokenIds: z.array(z.number().int()), endedWithEos: z.boolean(), score: z.number().optional(),
});
export const ModelInfoSchema = z.object({
  dir: z.string(), kind: z.string(), architecture: z.string(), weights: z.string(),
  imageSize: z.number().int(), queries: z.number().int(), hasTokenizer: z.boolean(), createdAt: z.string(),
  /** How captions name this model (modelLabel: repo@commit quant, or folder:quant). */
  label: z.string(),
  /** Its language model ('opt', 't5'), so a chat can show which model answered. */
  language: z.string().optional(),
  /** Loaded in low-memory mode (one half open at a time). */
  lowMemory: z.boolean().optional(),
});
export const RetrievalModelInfoSchema = z.strictObject({
  dir: z.string(), modelId: z.string(), weights: z.string(), queries: z.number().int().positive(),
  embedDim: z.number().int().positive(),
  /** The captioning model loaded at that time has the same vision encoder: analyze runs it once. */
  sharedVision: z.boolean(),
});

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** A float32 matrix [rows × cols] as base64 of its little-endian bytes: a third larger than the
 *  bytes, where a JSON number array would be three to five times larger. The length is checked. */
export const Float32MatrixSchema = z.strictObject({
  rows: Count, cols: Count, base64: z.string().regex(BASE64),
}).refine((m) => base64Bytes(m.base64) === m.rows * m.cols * 4, { message: 'base64 length does not match rows × cols float32 values' });

export const VectorsResultSchema = z.strictObject({ vectors: Float32MatrixSchema });
export const ProbabilitiesResultSchema = z.strictObject({ probabilities: z.array(z.number().min(0).max(1)) });
export const AnalyzeResultSchema = z.strictObject({
  caption: GeneratedTextSchema.optional(),
  features: Float32MatrixSchema.optional(),
  /** Vision encoder runs this request took (1 with shared vision, 2 without; 0 when cached). */
  visionPasses: Count,
});

const ErrorDataSchema = z.object({ code: z.string(), message: z.string(), file: z.string().optional() });

export const WorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int() }),
  z.object({ type: z.literal('token'), id: Id, tokenId: z.number().int(), text: z.string() }),
  // Each request type has one result shape (the host checks it against the request it sent).
  z.object({
    type: z.literal('result'), id: Id,
    value: z.union([
      GeneratedTextSchema, ModelInfoSchema, RetrievalModelInfoSchema, VectorsResultSchema, ProbabilitiesResultSchema, AnalyzeResultSchema,
    ]),
  }),
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
export type LoadRetrievalRequest = z.input<typeof LoadRetrievalRequestSchema>;
export type EmbedTextsRequest = z.infer<typeof EmbedTextsRequestSchema>;
export type EmbedImageRequest = z.infer<typeof EmbedImageRequestSchema>;
export type ItmRequest = z.infer<typeof ItmRequestSchema>;
export type AnalyzeRequest = z.input<typeof AnalyzeRequestSchema>;
export type ShutdownRequest = z.infer<typeof ShutdownRequestSchema>;
/** What the host sends (optional fields may be omitted; the worker fills defaults when parsing). */
export type HostMessage =
  | LoadRequest | CaptionRequest | AskRequest | CancelRequest | ShutdownRequest
  | LoadRetrievalRequest | EmbedTextsRequest | EmbedImageRequest | ItmRequest | AnalyzeRequest;
/** A request after validation, defaults filled. */
export type ParsedHostMessage = z.infer<typeof HostMessageSchema>;

export type ParsedWorkerMessage = z.infer<typeof WorkerMessageSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type GeneratedTextData = z.infer<typeof GeneratedTextSchema>;
export type ModelInfo = z.infer<typeof ModelInfoSchema>;
export type RetrievalModelInfo = z.infer<typeof RetrievalModelInfoSchema>;
export type Float32Matrix = z.infer<typeof Float32MatrixSchema>;
export type VectorsResult = z.infer<typeof VectorsResultSchema>;
export type ProbabilitiesResult = z.infer<typeof ProbabilitiesResultSchema>;
export type AnalyzeResultData = z.infer<typeof AnalyzeResultSchema>;
/** Every value a `result` message can carry. */
export type ResultValue = GeneratedTextData | ModelInfo | RetrievalModelInfo | VectorsResult | ProbabilitiesResult | AnalyzeResultData;

export type WorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'token'; id: string; tokenId: number; text: string }
  | { type: 'result'; id: string; value: ResultValue }
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

/** Bytes a padded base64 string decodes to (without decoding it). */
function base64Bytes(b64: string): number {
  if (b64.length % 4 !== 0) return -1;
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}
