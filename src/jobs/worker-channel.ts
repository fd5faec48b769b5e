// The request side of the worker protocol, without the process: request ids, the pending map,
// streamed tokens, AbortSignal → `cancel`, and the worker's messages dispatched to the request they
// answer. InferenceHost owns the process (start, crash, restart) and asks this channel to send.
import { AppError, type ErrorCode, type ErrorData } from '../shared/errors.ts';
import type { HostMessage, LogLevel, ParsedWorkerMessage } from './protocol.ts';
import type { Transport } from './transport.ts';

export interface CallOptions {
  /** Each generated token with the text decoded so far. */
  onToken?: (token: { tokenId: number; text: string }) => void;
  /** Aborting sends `cancel`; the promise then rejects with code 'cancelled'. */
  signal?: AbortSignal;
}

export type Request = DistributiveOmit<HostMessage, 'id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: AppError) => void;
  onToken?: CallOptions['onToken'];
}

export interface ChannelEvents {
  log(level: LogLevel, message: string): void;
  /** A worker error no pending request claims (e.g. the answer to a malformed message). */
  unmatched(id: string | null, error: ErrorData): void;
}

export class WorkerChannel {
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;

  constructor(private readonly events: ChannelEvents) {}

  /** A worker message (already validated) for the request it answers. */
  dispatch(msg: ParsedWorkerMessage): void {
    switch (msg.type) {
      case 'log': return this.events.log(msg.level, msg.message);
      case 'token': return this.pending.get(msg.id)?.onToken?.({ tokenId: msg.tokenId, text: msg.text });
      case 'result': return this.pending.get(msg.id)?.resolve(msg.value);
      case 'error': {
        const p = msg.id === null ? undefined : this.pending.get(msg.id);
        const error = msg.error as ErrorData;
        if (!p) return this.events.unmatched(msg.id, error);
        return p.reject(new AppError(error.code as ErrorCode, error.message, { file: error.file }));
      }
      default: return undefined;
    }
  }

  /** Fails every request in flight (the worker exited before answering). */
  rejectAll(err: AppError): void {
    for (const p of [...this.pending.values()]) p.reject(err);
  }

  /** Sends `request` to the worker on `t`; `isCurrent` says whether `t` is still the live worker. */
  request<T>(t: Transport, request: Request, call: CallOptions, isCurrent: () => boolean): Promise<T> {
    const id = `r${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => void (isCurrent() && t.send({ type: 'cancel', id }));
      const settle = (): void => {
        this.pending.delete(id);
        call.signal?.removeEventListener('abort', onAbort);
      };
      // An onToken that throws fails the request with its error (as in-process generate does) and
      // stops the worker's generation; it must not become an uncaught exception in this process.
      let listenerError: { err: unknown } | undefined;
      const onToken = call.onToken;
      this.pending.set(id, {
        resolve: (v) => { settle(); if (listenerError) reject(listenerError.err); else resolve(v as T); },
        reject: (e) => { settle(); reject(listenerError ? listenerError.err : e); },
        onToken: onToken && ((token) => {
          if (listenerError) return;
          try {
            onToken(token);
          } catch (err) {
            listenerError = { err };
            onAbort();
          }
        }),
      });
      call.signal?.addEventListener('abort', onAbort, { once: true });
      // A closed channel means the process is exiting: its exit rejects this request with the reason.
      t.send({ ...request, id } as HostMessage);
    });
  }
}
