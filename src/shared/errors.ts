// Errors that cross module and process boundaries as data: a small catalog of codes,
// a message a person can act on, and the file concerned when there is one.

/** The one list of error codes; `ErrorCode` and the known-code check both come from it. */
export const ERROR_CODES = [
  'invalid_argument',
  'checkpoint_invalid',
  'checkpoint_unsupported',
  'tensor_missing',
  'model_missing',
  'model_invalid',
  'photo_unreadable',
  'tokenizer_missing',
  'inference_failed',
  'cancelled',
  'io_error',
  /** Not enough free space (the message gives needed and free bytes when known). */
  'disk_full',
  /** The Hub (or a mirror) could not be reached, or kept failing. */
  'network_error',
  /** A gated or private repository needs a token (or the token has no access). */
  'hub_auth_required',
  /** The Hub has no such repository, revision or file. */
  'hub_not_found',
  /** Downloaded bytes do not match the checksum the Hub or the manifest gives. */
  'integrity_failed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorData {
  code: ErrorCode;
  message: string;
  file?: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;

  constructor(code: ErrorCode, message: string, options?: { file?: string; cause?: unknown }) {
    super(options?.file && !message.includes(options.file) ? `${options.file}: ${message}` : message, {
      cause: options?.cause,
    });
    this.name = 'AppError';
    this.code = code;
    this.file = options?.file;
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message, ...(this.file ? { file: this.file } : {}) };
  }
}

/** Recognise errors by code, never by instanceof, once they may have crossed a boundary. */
export function errorCode(err: unknown): ErrorCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (code as ErrorCode) : undefined;
}

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof AppError) return err.toData();
  const code: string | undefined = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code && isKnownCode(code)) return { code, message };
  // Errors from libraries and the OS keep a code that says what failed, not 'inference_failed'.
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return { code: 'disk_full', message };
  if (code?.startsWith('SQLITE_')) return { code: 'io_error', message: `catalog: ${message}` };
  if (code && /^E[A-Z]+$/.test(code)) return { code: 'io_error', message };
  return { code: 'inference_failed', message };
}

const KNOWN: ReadonlySet<string> = new Set<string>(ERROR_CODES);
function isKnownCode(code: string): code is ErrorCode {
  return KNOWN.has(code);
}

/** Throws 'cancelled' when `signal` has been aborted (a request given up by its caller). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('cancelled', 'the request was cancelled');
}
