// The Hugging Face Hub over its HTTP API: a repo's commit and file list (through @huggingface/hub),
// and file bytes from `resolve/<commit>/<path>` with Range requests, so downloads resume. The endpoint
// is configurable (HF_ENDPOINT, for mirrors); HTTP(S)_PROXY / NO_PROXY are honoured (undici's
// EnvHttpProxyAgent). Errors come out as AppErrors a person can act on: hub_not_found,
// hub_auth_required, network_error. 429 and 5xx answers and dropped connections are retried with
// backoff (Retry-After honoured).
import { listFiles, modelInfo } from '@huggingface/hub';
import { EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { AppError } from '../shared/errors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** For gated or private repos (CLI: $HF_TOKEN; app: the token kept with safeStorage). */
  token?: string;
  /** Attempts per request for 429, 5xx and network failures (default 6) and the first backoff (default 500 ms). */
  retries?: number;
  backoffMs?: number;
  /** Abort a request whose body stalls this long (default 60 s). */
  idleTimeoutMs?: number;
}

export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content, for LFS files (the Hub's LFS oid). */
  sha256?: string;
}

export interface RepoSnapshot {
  repo: string;
  /** What was asked for (branch, tag or commit). */
  revision: string;
  /** The 40-hex commit it resolved to; every download reads this commit, never a moving branch. */
  commit: string;
  files: HubFile[];
}

type FetchLike = (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal; method?: string }) => Promise<Response>;

export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw new AppError('invalid_argument', `"${repo}" is not a Hugging Face repo id (owner/name, e.g. Salesforce/blip2-opt-2.7b)`);
  }
}

export class HubClient {
  readonly endpoint: string;
  private readonly token?: string;
  private readonly dispatcher: Dispatcher;
  private readonly retries: number;
  private readonly backoffMs: number;
  readonly idleTimeoutMs: number;

  constructor(opts: HubOptions = {}) {
    this.endpoint = (opts.endpoint ?? endpointFromEnv()).replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.endpoint)) throw new AppError('invalid_argument', `Hub endpoint must be an http(s) URL, got "${this.endpoint}"`);
    this.token = opts.token || undefined;
    if (this.token && !this.token.startsWith('hf_')) throw new AppError('invalid_argument', 'a Hugging Face token starts with "hf_"');
    this.retries = opts.retries ?? 6;
    this.backoffMs = opts.backoffMs ?? 500;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.dispatcher = new EnvHttpProxyAgent({ bodyTimeout: this.idleTimeoutMs, headersTimeout: this.idleTimeoutMs });
  }

  /** The commit a revision resolves to and every file of it (with sizes and LFS sha256). */
  async snapshot(repo: string, revision = 'main', signal?: AbortSignal): Promise<RepoSnapshot> {
    checkRepoId(repo);
    const common = { hubUrl: this.endpoint, fetch: this.fetcher(signal) as unknown as typeof fetch, ...(this.token ? { accessToken: this.token } : {}) };
    const info = await this.api(repo, revision, () => modelInfo({ name: repo, revision, additionalFields: ['sha'], ...common }));
    const commit = (info as { sha?: string }).sha;
    if (!commit || !/^[0-9a-f]{40}$/.test(commit)) throw new AppError('network_error', `${this.endpoint} gave no commit for ${repo}@${revision}`);
    const files: HubFile[] = [];
    await this.api(repo, revision, async () => {
      for await (const f of listFiles({ repo: { type: 'model', name: repo }, revision: commit, recursive: true, expand: false, ...common })) {
        if (f.type !== 'file') continue;
        files.push({ path: f.path, size: f.lfs?.size ?? f.size, ...(f.lfs?.oid ? { sha256: f.lfs.oid } : {}) });
      }
    });
    return { repo, revision, commit, files };
  }

  /**
   * GET resolve/<commit>/<path> from byte `start` (Range). Follows the Hub's redirect to its file
   * store; the body starts exactly at `start` (a server ignoring Range is detected and skipped).
   */
  async open(repo: string, commit: string, path: string, start: number, signal?: AbortSignal, end?: number): Promise<{ body: ReadableStream<Uint8Array>; start: number }> {
    const url = `${this.endpoint}/${repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const headers: Record<string, string> = end !== undefined ? { Range: `bytes=${start}-${end - 1}` } : start > 0 ? { Range: `bytes=${start}-` } : {};
    const res = await this.withRetry(`${repo}/${path}`, async () => {
      const r = await this.fetcher(signal)(url, { headers: { ...this.auth(), ...headers }, signal });
      if (r.ok) return r;
      await r.body?.cancel().catch(() => undefined);
      throw httpError(r, repo, commit, path, !!this.token, this.endpoint);
    }, signal);
    if (!res.body) throw new AppError('network_error', `empty answer for ${path} from ${this.endpoint}`);
    if (start > 0 && res.status === 200) return { body: skipBytes(res.body, start), start };
    if ((start > 0 || end !== undefined) && res.status !== 206 && res.status !== 200) throw new AppError('network_error', `unexpected status ${res.status} for a range request of ${path}`);
    return { body: res.body, start };
  }

  /** A whole small file (config, tokenizer). */
  async readSmall(repo: string, commit: string, path: string, signal?: AbortSignal): Promise<Uint8Array> {
    const { body } = await this.open(repo, commit, path, 0, signal);
    return new Uint8Array(await new Response(body).arrayBuffer());
  }

  /** Bytes [start, end) of a file (safetensors headers before the stream), asked for as exactly that range. */
  async readRange(repo: string, commit: string, path: string, start: number, end: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(end - start);
    let got = 0;
    const { body } = await this.open(repo, commit, path, start, signal, end);
    const reader = body.getReader();
    try {
      while (got < out.length) {
        const { done, value } = await reader.read();
        if (done) break;
        const take = Math.min(value.byteLength, out.length - got);
        out.set(value.subarray(0, take), got);
        got += take;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (got < out.length) throw new AppError('network_error', `${path}: the connection ended after ${got} of ${out.length} bytes`);
    return out;
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }

  /** Retries `fn` on 429/5xx/network failures with exponential backoff; other errors pass through. */
  async withRetry<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let delay = this.backoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (signal?.aborted) throw new AppError('cancelled', 'download cancelled');
        const retryable = isRetryable(err);
        if (!retryable || attempt >= this.retries) throw asNetworkError(err, what, this.endpoint);
        const wait = retryable.retryAfterMs ?? delay;
        delay = Math.min(delay * 2, 30_000);
        await sleep(Math.min(wait, 60_000), signal);
      }
    }
  }

  private async api<T>(repo: string, revision: string, fn: () => Promise<T>): Promise<T> {
    return this.withRetry(repo, async () => {
      try {
        return await fn();
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status === undefined) throw err;
        const data = (err as { data?: { error?: string } }).data;
        throw statusError(status, repo, revision, undefined, !!this.token, this.endpoint, data?.error, undefined);
      }
    });
  }

  private auth(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private fetcher(signal?: AbortSignal): FetchLike {
    return (url, init) => undiciFetch(url, { ...init, signal: init?.signal ?? signal, dispatcher: this.dispatcher }) as unknown as Promise<Response>;
  }
}

class HttpStatusError extends Error {
  constructor(readonly status: number, readonly retryAfterMs: number | undefined, readonly app: AppError) {
    super(app.message);
  }
}

function httpError(r: Response, repo: string, commit: string, path: string, hadToken: boolean, endpoint: string): Error {
  const retryAfter = Number(r.headers.get('retry-after'));
  return statusError(r.status, repo, commit, path, hadToken, endpoint, undefined, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined, r.headers.get('x-error-code') ?? undefined);
}

function statusError(status: number, repo: string, revision: string, path: string | undefined, hadToken: boolean, endpoint: string,
  message?: string, retryAfterMs?: number, errorCode?: string): Error {
  if (status === 429 || status >= 500) return new HttpStatusError(status, retryAfterMs, new AppError('network_error', `${endpoint} answered ${status} for ${repo}${path ? `/${path}` : ''}`));
  if (status === 401 || status === 403) {
    return new AppError('hub_auth_required', hadToken
      ? `the token has no access to ${repo}: accept the model's terms on its Hub page, or use a token of an account that has access`
      : `${repo} is gated or private: a Hugging Face token is needed (CLI: set HF_TOKEN; app: Settings → Models → Hub token)`);
  }
  if (status === 404) {
    const code = errorCode ?? (/revision/i.test(message ?? '') ? 'RevisionNotFound' : path ? 'EntryNotFound' : 'RepoNotFound');
    if (code === 'RevisionNotFound' || /invalid rev/i.test(message ?? '')) return new AppError('hub_not_found', `${repo} has no revision "${revision}"`);
    if (code === 'EntryNotFound') return new AppError('hub_not_found', `${repo}@${revision.slice(0, 7)} has no file "${path}"`);
    return new AppError('hub_not_found', `no model repository "${repo}" on ${endpoint} (check the spelling; a private repo also needs a token)`);
  }
  return new AppError('network_error', `${endpoint} answered ${status} for ${repo}${path ? `/${path}` : ''}${message ? `: ${message}` : ''}`);
}

function isRetryable(err: unknown): { retryAfterMs?: number } | undefined {
  if (err instanceof HttpStatusError) return { retryAfterMs: err.retryAfterMs };
  if (err instanceof AppError) return undefined;
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e?.name === 'AbortError') return undefined;
  return {}; // fetch failed: refused, reset, DNS, timeout
}

function asNetworkError(err: unknown, what: string, endpoint: string): Error {
  if (err instanceof HttpStatusError) return err.app;
  if (err instanceof AppError) return err;
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'AbortError') return new AppError('cancelled', 'download cancelled');
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new AppError('network_error', `cannot reach ${endpoint} for ${what} (${why}); check the network, or HF_ENDPOINT / proxy settings`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new AppError('cancelled', 'download cancelled')); }, { once: true });
  });
}

/** For servers that ignore Range: drop the first `n` bytes of a full body. */
function skipBytes(body: ReadableStream<Uint8Array>, n: number): ReadableStream<Uint8Array> {
  let left = n;
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      if (left >= chunk.byteLength) { left -= chunk.byteLength; return; }
      ctl.enqueue(left ? chunk.subarray(left) : chunk);
      left = 0;
    },
  }));
}
