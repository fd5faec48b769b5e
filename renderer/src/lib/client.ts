// Wraps the preload bridge: every call resolves to its data or throws a ClientError carrying the
// error code from main (errors are recognised by code, never by instanceof across the boundary).
import type {
  ArgsOf, Channel, ErrorCode, ErrorData, EventMap, EventName, IpcResult, MediaKind, PhotoAssistantBridge, ResultMap,
} from './contract.ts';
import { toasts, type ToastState } from '../state/toasts.svelte.ts';

export class ClientError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;

  constructor(data: ErrorData) {
    super(data.message);
    this.name = 'ClientError';
    this.code = data.code;
    if (data.file) this.file = data.file;
  }
}

export class Client {
  readonly #bridge: PhotoAssistantBridge;

  constructor(bridge: PhotoAssistantBridge) {
    this.#bridge = bridge;
  }

  async call<C extends Channel>(channel: C, arg?: ArgsOf<C>): Promise<ResultMap[C]> {
    const method = this.#bridge[channel] as (arg?: ArgsOf<C>) => Promise<IpcResult<ResultMap[C]>>;
    let result: IpcResult<ResultMap[C]>;
    try {
      result = await method(arg);
    } catch (err) {
      // The bridge itself failed (IPC torn down): still an error with a code.
      throw new ClientError({ code: 'io_error', message: `${channel}: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (!result.ok) throw new ClientError(result.error);
    return result.data;
  }

  on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void {
    return this.#bridge.on(event, listener);
  }

  mediaUrl(kind: MediaKind, photoId: number): string {
    return this.#bridge.mediaUrl(kind, photoId);
  }
}

/** The code of an error from a call, whatever threw it. */
export function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function errorMessageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

/**
 * The one way the UI reports a failed call: cancellation is the user's own doing and is ignored;
 * anything else becomes an error toast that says what was being done.
 */
export function handleError(err: unknown, doing: string, sink: ToastState = toasts): void {
  if (errorCodeOf(err) === 'cancelled') return;
  const file = (err as { file?: unknown } | null)?.file;
  const message = errorMessageOf(err);
  const where = typeof file === 'string' && file && !message.includes(file) ? ` (${file})` : '';
  sink.show('error', `${doing}: ${message}${where}`);
}
