// Errors that cross module and process boundaries as data: a small catalog of codes,
// a message a person can act on, and the file concerned when there is one.

export type ErrorCode =
  | 'invalid_argument'
  | 'checkpoint_invalid'
  | 'checkpoint_unsupported'
  | 'tensor_missing'
  | 'model_missing'
  | 'model_invalid'
  | 'photo_unreadable'
  | 'tokenizer_missing'
  | 'inference_failed'
  | 'cancelled'
  | 'io_error';

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
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return { code: code && isKnownCode(code) ? code : 'inference_failed', message };
}

const KNOWN: ReadonlySet<string> = new Set<ErrorCode>([
  'invalid_argument', 'checkpoint_invalid', 'checkpoint_unsupported', 'tensor_missing', 'model_missing',
  'model_invalid', 'photo_unreadable', 'tokenizer_missing', 'inference_failed', 'cancelled', 'io_error',
]);
function isKnownCode(code: string): code is ErrorCode {
  return KNOWN.has(code);
}
