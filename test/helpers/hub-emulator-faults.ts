// File bodies and fault injection for the Hub emulator (hub-emulator.ts): Range handling, and canned
// error answers, dropped connections, flipped bytes, a slow link and stalls applied while streaming a
// byte range of a file. Fault rules match on a substring of the decoded request path and query.
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FailOptions {
  /** Seconds for a `Retry-After` header (sent for 429 even when not given: 1). */
  retryAfter?: number;
  /** Only requests whose decoded path + query contain this; every request when absent. */
  pathIncludes?: string;
}

interface FailRule extends FailOptions { left: number; status: number }
interface CutRule { pathIncludes: string; bytes: number; left: number }

/** What to do to one response body: flip bytes at these absolute file offsets, cut or stall it. */
export interface BodyPlan { corruptAt: number[]; dropAfter?: number; stallAfter?: number }

export class HubFaults {
  private fails: FailRule[] = [];
  private drops: CutRule[] = [];
  private stalls: CutRule[] = [];
  private corruptions: Array<{ pathIncludes: string; offset: number }> = [];
  /** Current body rate limit (bytes/s), read for every piece sent so it can change mid-body. */
  bytesPerSecond: number | undefined;

  /** The next `count` matching requests answer `status` (429, 500, 503, ...) instead of their answer. */
  failNext(count: number, status: number, opts: FailOptions = {}): void {
    this.fails.push({ left: count, status, ...opts });
  }

  /** Destroy the socket after `bytes` body bytes of a matching response, `times` times. */
  dropAfter(pathIncludes: string, bytes: number, times = 1): void {
    this.drops.push({ pathIncludes, bytes, left: times });
  }

  /** Flip the byte at absolute file offset `offset` in every matching body that covers it. */
  corrupt(pathIncludes: string, offset: number): void {
    this.corruptions.push({ pathIncludes, offset });
  }

  /** A slow link for all bodies; `undefined` lifts it. */
  throttle(bytesPerSecond: number | undefined): void {
    this.bytesPerSecond = bytesPerSecond && bytesPerSecond > 0 ? bytesPerSecond : undefined;
  }

  /** Stop sending (socket kept open) after `afterBytes` body bytes of a matching response, `times` times. */
  stall(pathIncludes: string, afterBytes: number, times = 1): void {
    this.stalls.push({ pathIncludes, bytes: afterBytes, left: times });
  }

  reset(): void {
    this.fails = [];
    this.drops = [];
    this.stalls = [];
    this.corruptions = [];
    this.bytesPerSecond = undefined;
  }

  /** The canned failure this request gets, if any (uses one up). */
  takeFailure(target: string): { status: number; retryAfter?: number } | undefined {
    const rule = this.fails.find((f) => f.left > 0 && (f.pathIncludes === undefined || target.includes(f.pathIncludes)));
    if (!rule) return undefined;
    rule.left--;
    return { status: rule.status, retryAfter: rule.retryAfter ?? (rule.status === 429 ? 1 : undefined) };
  }

  /** How to damage a body of `length` bytes starting at file offset `start` (uses up a drop/stall that will fire). */
  planBody(target: string, start: number, length: number): BodyPlan {
    const take = (rules: CutRule[]) => {
      const rule = rules.find((r) => r.left > 0 && r.bytes < length && target.includes(r.pathIncludes));
      if (!rule) return undefined;
      rule.left--;
      return rule.bytes;
    };
    const corruptAt = this.corruptions
      .filter((c) => target.includes(c.pathIncludes) && c.offset >= start && c.offset < start + length)
      .map((c) => c.offset);
    return { corruptAt, dropAfter: take(this.drops), stallAfter: take(this.stalls) };
  }
}

/** Answers with a file's bytes: 200, or 206/416 for a `Range`; no body for HEAD. */
export async function serveFile(req: IncomingMessage, res: ServerResponse, abs: string, size: number, etag: string, target: string,
  faults: HubFaults): Promise<void> {
  const range = parseRange(req.headers.range, size);
  const common = { 'Accept-Ranges': 'bytes', ETag: etag, 'Content-Type': 'application/octet-stream' };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
    return void res.end();
  }
  const [start, end] = range ?? [0, size - 1];
  const length = end - start + 1;
  res.writeHead(range ? 206 : 200, {
    ...common, 'Content-Length': String(length), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
  });
  if (req.method === 'HEAD' || length === 0) return void res.end();
  await sendFileRange(res, abs, start, end, faults.planBody(target, start, length), faults);
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (multi-range, malformed) is ignored as RFC 9110 allows. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

/**
 * Streams bytes [start, end] (inclusive) of `file` into `res` (headers already set), applying the
 * plan and the throttle; respects backpressure and stops reading when the client goes away.
 */
export async function sendFileRange(res: ServerResponse, file: string, start: number, end: number, plan: BodyPlan,
  faults: HubFaults): Promise<void> {
  let closed = false;
  res.once('close', () => (closed = true));
  const cutAt = Math.min(plan.dropAfter ?? Infinity, plan.stallAfter ?? Infinity);
  let sent = 0;
  const stream = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (const offset of plan.corruptAt) {
        const i = offset - (start + sent);
        if (i >= 0 && i < chunk.length) chunk[i] ^= 0xff;
      }
      for (let at = 0; at < chunk.length;) {
        if (closed) return;
        const rate = faults.bytesPerSecond;
        const pieceLen = Math.min(chunk.length - at, rate ? Math.max(1024, Math.ceil(rate / 20)) : chunk.length);
        let piece = chunk.subarray(at, at + pieceLen);
        if (sent + piece.length >= cutAt) {
          piece = piece.subarray(0, cutAt - sent);
          await cut(res, piece, plan.dropAfter === cutAt ? 'drop' : 'stall', () => closed);
          return;
        }
        if (!res.write(piece) && !closed) await drainOrClose(res);
        sent += piece.length;
        at += piece.length;
        if (rate) await sleep((piece.length / rate) * 1000);
      }
    }
    if (!closed) res.end();
  } catch (err) {
    res.destroy(err as Error); // a read error mid-body: the client sees a truncated answer
  } finally {
    stream.destroy();
  }
}

/** Send `prefix`, then destroy the socket (drop) or keep it open, silent, until the client leaves (stall). */
async function cut(res: ServerResponse, prefix: Buffer, how: 'drop' | 'stall', isClosed: () => boolean): Promise<void> {
  const socket = res.socket;
  if (prefix.length) res.write(prefix);
  else res.flushHeaders();
  if (!socket) return;
  // An empty write queued behind the prefix calls back once everything before it reached the kernel.
  await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
  if (how === 'drop') {
    socket.destroy();
    return;
  }
  if (!isClosed()) await new Promise((resolve) => res.once('close', resolve));
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
