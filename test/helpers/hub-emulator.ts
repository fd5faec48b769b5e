// A loopback Hugging Face Hub for tests and benchmarks: serves model repositories from local folders
// through the Hub's HTTP API as @huggingface/hub 2.17.5 and plain `fetch` use it (model info, tree
// listing with `Link` pagination, resolve with a 302 to a CDN-like URL on the same server that honours
// Range), with programmable faults (hub-emulator-faults.ts). Classic LFS repos only: no Xet answers.
// Run as a script (`--config <json>`) it serves from its own process; see startHubEmulatorProcess.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubFaults, serveFile } from './hub-emulator-faults.ts';

export { HubFaults } from './hub-emulator-faults.ts';

export interface EmulatedRepo {
  id: string;              // "Salesforce/blip2-opt-2.7b"
  dir: string;             // folder whose files (recursively, `.git` skipped) are the repo's files
  commit?: string;         // 40-hex commit sha (default: sha1 of id)
  gated?: boolean;         // requires Authorization: Bearer <token> with a token in `tokens`
  branches?: string[];     // revision names besides "main" (always served) that resolve to the commit
  lfsMinBytes?: number;    // files at least this big (default 1024) or *.safetensors/*.bin/*.onnx/*.data are LFS files
}

export interface HubEmulatorOptions {
  repos: EmulatedRepo[];
  tokens?: string[];
  /** Tree entries per page before a `Link: <…>; rel="next"` (default 1000; 50 at most with expand=true, as the Hub). */
  pageSize?: number;
  /** The real Hub shows a gated repo's info and tree to anyone and gates only file bytes; default false (gate all). */
  publicGatedMetadata?: boolean;
  port?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;            // decoded path, without the query
  query?: string;          // raw query string without "?", when there is one
  range?: string;
  auth: boolean;           // an Authorization header was sent
  at: number;              // Date.now()
  headers: Record<string, string | string[] | undefined>; // authorization redacted
}

interface RepoFile { path: string; abs: string; size: number; sha256?: string; oid: string; pointerSize?: number }
interface Repo {
  id: string; commit: string; gated: boolean; revisions: Set<string>;
  files: Map<string, RepoFile>; children: Map<string, { dirs: string[]; files: string[] }>; treeOids: Map<string, string>;
}

const LFS_EXTENSIONS = /\.(safetensors|bin|onnx|data)$/;
const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), '..', '..');
const CREATED = new Date().toISOString();

export class HubEmulator {
  readonly faults = new HubFaults();
  requests: LoggedRequest[] = [];
  pageSize: number;
  private constructor(private readonly server: Server, readonly url: string, private readonly repos: Map<string, Repo>,
    private readonly tokens: Set<string>, private readonly opts: HubEmulatorOptions) {
    this.pageSize = opts.pageSize ?? 1000;
  }

  static async start(opts: HubEmulatorOptions): Promise<HubEmulator> {
    const repos = new Map<string, Repo>();
    for (const r of opts.repos) repos.set(r.id, await loadRepo(r));
    const server = createServer();
    await new Promise<void>((ok, fail) => server.once('error', fail).listen(opts.port ?? 0, '127.0.0.1', () => ok()));
    const hub = new HubEmulator(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, repos, new Set(opts.tokens ?? []), opts);
    server.on('request', (req, res) => {
      hub.handle(req, res).catch((err) => {
        if (!res.headersSent) hubError(res, 500, undefined, `emulator error: ${(err as Error).message}`);
        else res.destroy();
      });
    });
    return hub;
  }

  async close(): Promise<void> {
    const closed = new Promise((ok) => this.server.close(ok));
    this.server.closeAllConnections(); // stalled bodies and keep-alive sockets
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(this.url + (req.url ?? '/')); // (not relative: a path starting "//" is no host)
    const segs = url.pathname.split('/').slice(1).map(decode);
    const path = decode(url.pathname);
    const target = path + decode(url.search); // what fault rules match on
    const { authorization, ...headers } = req.headers;
    this.requests.push({
      method: req.method ?? 'GET', path, ...(url.search ? { query: url.search.slice(1) } : {}),
      ...(req.headers.range ? { range: req.headers.range } : {}), auth: !!authorization, at: Date.now(),
      headers: authorization ? { ...headers, authorization: '<redacted>' } : headers,
    });
    const failure = this.faults.takeFailure(target);
    if (failure) {
      if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
      return hubError(res, failure.status, undefined, failure.status === 429 ? 'Rate limit reached, retry later' : 'Injected failure');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return hubError(res, 405, undefined, 'Method not allowed');
    const base = `http://${req.headers.host ?? url.host}`;
    if (segs[0] === 'api' && segs[1] === 'models') return this.api(req, res, url, segs.slice(2), base);
    if (segs[0] === 'cdn') return this.cdn(req, res, segs.slice(1), target);
    if (segs[1] === 'resolve' || segs[2] === 'resolve') return this.resolve(req, res, segs, base, target);
    hubError(res, 404, undefined, "Sorry, we can't find the page you are looking for.");
  }

  /** The repo named by the first one or two segments, or an error already answered. */
  private repoOf(req: IncomingMessage, res: ServerResponse, segs: string[], isMetadata: boolean): { repo: Repo; rest: string[] } | undefined {
    const two = this.repos.get(`${segs[0]}/${segs[1]}`);
    const repo = two ?? this.repos.get(segs[0]);
    if (!repo) return void hubError(res, 404, 'RepoNotFound', 'Repository not found');
    if (repo.gated && !(isMetadata && this.opts.publicGatedMetadata) && !this.authorized(req)) {
      return void hubError(res, 401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    return { repo, rest: segs.slice(two ? 2 : 1) };
  }

  private authorized(req: IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return !!m && this.tokens.has(m[1]);
  }

  private commitOf(res: ServerResponse, repo: Repo, revision: string | undefined): string | undefined {
    if (revision !== undefined && repo.revisions.has(revision)) return repo.commit;
    hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision ?? ''}`);
  }

  private api(req: IncomingMessage, res: ServerResponse, url: URL, segs: string[], base: string): void {
    const found = this.repoOf(req, res, segs, true);
    if (!found) return;
    const { repo, rest } = found;
    if (rest.length === 0 || (rest[0] === 'revision' && rest.length === 2)) {
      if (rest.length && !this.commitOf(res, repo, rest[1])) return;
      return json(res, 200, modelInfo(repo, url.searchParams));
    }
    if (rest[0] === 'tree' && rest.length >= 2) {
      if (!this.commitOf(res, repo, rest[1])) return;
      const dir = rest.slice(2).join('/').replace(/\/+$/, '');
      if (!repo.children.has(dir)) return hubError(res, 404, 'EntryNotFound', `Entry not found: ${dir}`);
      const expand = url.searchParams.get('expand') === 'true';
      const all = treeEntries(repo, dir, url.searchParams.get('recursive') === 'true', expand);
      const pageSize = Math.max(1, expand ? Math.min(this.pageSize, 50) : this.pageSize);
      const offset = Number(Buffer.from(url.searchParams.get('cursor') ?? '', 'base64url').toString() || 0);
      if (!Number.isInteger(offset) || offset < 0) return hubError(res, 400, undefined, 'Invalid cursor');
      if (offset + pageSize < all.length) {
        const next = new URL(url.pathname + url.search, base);
        next.searchParams.set('cursor', Buffer.from(String(offset + pageSize)).toString('base64url'));
        res.setHeader('Link', `<${next.href}>; rel="next"`);
      }
      return json(res, 200, all.slice(offset, offset + pageSize));
    }
    hubError(res, 404, undefined, "Sorry, we can't find the page you are looking for.");
  }

  /** `/{repo}/resolve/{revision}/{path}`: small files directly, LFS files by a 302 to the CDN URL. */
  private async resolve(req: IncomingMessage, res: ServerResponse, segs: string[], base: string, target: string): Promise<void> {
    const found = this.repoOf(req, res, segs, false);
    if (!found) return;
    const { repo, rest } = found;
    if (rest[0] !== 'resolve') return hubError(res, 404, undefined, "Sorry, we can't find the page you are looking for.");
    const commit = this.commitOf(res, repo, rest[1]);
    if (!commit) return;
    const file = repo.files.get(rest.slice(2).join('/'));
    if (!file) return hubError(res, 404, 'EntryNotFound', 'Entry not found');
    res.setHeader('X-Repo-Commit', commit);
    if (file.sha256) {
      const location = `${base}/cdn/${repo.id}/${file.sha256}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
      res.writeHead(302, {
        Location: location, ETag: `"${file.oid}"`, 'X-Linked-Etag': `"${file.sha256}"`, 'X-Linked-Size': String(file.size),
        'Content-Type': 'text/plain; charset=utf-8',
      });
      return void res.end(`Found. Redirecting to ${location}`);
    }
    await serveFile(req, res, file.abs, file.size, `"${file.oid}"`, target, this.faults);
  }

  /** `/cdn/{repo}/{sha256}/{path}`: the file store an LFS redirect points to. */
  private async cdn(req: IncomingMessage, res: ServerResponse, segs: string[], target: string): Promise<void> {
    const at = segs.findIndex((s) => /^[0-9a-f]{64}$/.test(s));
    if (at < 1) return hubError(res, 404, undefined, 'Not found');
    const found = this.repoOf(req, res, [segs.slice(0, at).join('/')], false);
    if (!found) return;
    const file = found.repo.files.get(segs.slice(at + 1).join('/'));
    if (!file || file.sha256 !== segs[at]) return hubError(res, 404, 'EntryNotFound', 'Entry not found');
    res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.path.split('/').pop()!)}`);
    await serveFile(req, res, file.abs, file.size, `"${file.sha256}"`, target, this.faults);
  }
}

function modelInfo(repo: Repo, params: URLSearchParams): Record<string, unknown> {
  const blobs = params.get('blobs') === 'true';
  const siblings = [...repo.files.values()].map((f) => blobs
    ? { rfilename: f.path, size: f.size, blobId: f.oid, ...(f.sha256 ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: f.pointerSize } } : {}) }
    : { rfilename: f.path });
  const full: Record<string, unknown> = {
    _id: createHash('sha1').update(`_id:${repo.id}`).digest('hex').slice(0, 24), id: repo.id, modelId: repo.id,
    author: repo.id.includes('/') ? repo.id.split('/')[0] : undefined, sha: repo.commit, lastModified: CREATED, createdAt: CREATED,
    private: false, disabled: false, gated: repo.gated ? 'auto' : false, downloads: 0, likes: 0, tags: [], siblings,
    usedStorage: [...repo.files.values()].reduce((n, f) => n + f.size, 0),
  };
  // As the Hub: `expand` (modelInfo's form) or `expand[]` narrows the answer to _id, id and those keys.
  const expand = [...params.getAll('expand'), ...params.getAll('expand[]')];
  if (expand.length === 0) return full;
  return Object.fromEntries(Object.entries(full).filter(([k]) => k === '_id' || k === 'id' || expand.includes(k)));
}

/** Directories first, then files, at each level (as the Hub lists); recursive listings go depth first. */
function treeEntries(repo: Repo, dir: string, recursive: boolean, expand: boolean): object[] {
  const out: object[] = [];
  const lastCommit = expand ? { lastCommit: { id: repo.commit, title: 'Upload folder', date: CREATED } } : {};
  const visit = (d: string) => {
    const c = repo.children.get(d)!;
    for (const sub of c.dirs) {
      out.push({ type: 'directory', oid: repo.treeOids.get(sub), size: 0, path: sub, ...lastCommit });
      if (recursive) visit(sub);
    }
    for (const p of c.files) {
      const f = repo.files.get(p)!;
      const lfs = f.sha256 ? { lfs: { oid: f.sha256, size: f.size, pointerSize: f.pointerSize } } : {};
      out.push({ type: 'file', oid: f.oid, size: f.size, ...lfs, path: f.path, ...lastCommit });
    }
  };
  visit(dir);
  return out;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function hubError(res: ServerResponse, status: number, code: string | undefined, message: string): void {
  if (code) res.setHeader('X-Error-Code', code);
  res.setHeader('X-Error-Message', message);
  json(res, status, { error: message });
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ── loading a repo: walk, hash (streamed), git oids ─────────────────────────────────────────────

const hashCache = new Map<string, Promise<string>>(); // same file in several repos or emulators: hash once

function hashFile(abs: string, kind: 'sha256' | 'git', size: number, mtimeMs: number): Promise<string> {
  const key = `${kind}:${abs}:${size}:${mtimeMs}`;
  let p = hashCache.get(key);
  if (!p) {
    p = (async () => {
      const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
      if (kind === 'git') h.update(`blob ${size}\0`);
      for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
      return h.digest('hex');
    })();
    p.catch(() => hashCache.delete(key));
    hashCache.set(key, p);
  }
  return p;
}

async function loadRepo(r: EmulatedRepo): Promise<Repo> {
  const commit = r.commit ?? createHash('sha1').update(r.id).digest('hex');
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`${r.id}: commit must be 40 hex digits`);
  const root = resolve(r.dir);
  const paths: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(join(root, p)).isDirectory());
      if (isDir && e.name !== '.git') walk(p);
      else if (!isDir) paths.push(p);
    }
  };
  walk('');
  paths.sort();
  const files = new Map<string, RepoFile>();
  const queue = [...paths];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      const abs = join(root, p);
      const st = statSync(abs);
      if (st.size >= (r.lfsMinBytes ?? 1024) || LFS_EXTENSIONS.test(p)) {
        const sha256 = await hashFile(abs, 'sha256', st.size, st.mtimeMs);
        const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${st.size}\n`;
        const pointerSize = Buffer.byteLength(pointer);
        const oid = createHash('sha1').update(`blob ${pointerSize}\0${pointer}`).digest('hex');
        files.set(p, { path: p, abs, size: st.size, sha256, oid, pointerSize });
      } else {
        files.set(p, { path: p, abs, size: st.size, oid: await hashFile(abs, 'git', st.size, st.mtimeMs) });
      }
    }
  }));
  const children = new Map<string, { dirs: string[]; files: string[] }>([['', { dirs: [], files: [] }]]);
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!children.has(d)) {
        children.set(d, { dirs: [], files: [] });
        children.get(parts.slice(0, i - 1).join('/'))!.dirs.push(d);
      }
    }
    children.get(parts.slice(0, -1).join('/'))!.files.push(p);
  }
  const treeOids = new Map<string, string>();
  const treeOid = (d: string): string => {
    const c = children.get(d)!;
    const name = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const entries = [
      ...c.dirs.map((p) => ({ sortKey: `${name(p)}/`, head: `40000 ${name(p)}\0`, oid: treeOid(p) })),
      ...c.files.map((p) => ({ sortKey: name(p), head: `100644 ${name(p)}\0`, oid: files.get(p)!.oid })),
    ].sort((a, b) => Buffer.compare(Buffer.from(a.sortKey), Buffer.from(b.sortKey)));
    const body = Buffer.concat(entries.flatMap((e) => [Buffer.from(e.head), Buffer.from(e.oid, 'hex')]));
    const oid = createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex');
    treeOids.set(d, oid);
    return oid;
  };
  treeOid('');
  return {
    id: r.id, commit, gated: !!r.gated, files, children, treeOids,
    revisions: new Set(['main', 'HEAD', commit, ...(r.branches ?? [])]),
  };
}

// ── the emulator in its own process ─────────────────────────────────────────────────────────────

export interface HubEmulatorProcess { url: string; requestsCount(): Promise<number>; close(): Promise<void> }

/** Runs the emulator in a child process, so serving does not share the client's event loop. */
export async function startHubEmulatorProcess(opts: HubEmulatorOptions): Promise<HubEmulatorProcess> {
  const tmp = await mkdtemp(join(tmpdir(), 'hub-emulator-'));
  const config = join(tmp, 'config.json');
  await writeFile(config, JSON.stringify({ ...opts, repos: opts.repos.map((r) => ({ ...r, dir: resolve(r.dir) })) }));
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    let seen = false; // only the first line counts; later output is drained and ignored
    child.stdout!.on('data', (d) => {
      if (seen) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      seen = true;
      try {
        ok((JSON.parse(out.slice(0, nl)) as { url: string }).url);
      } catch (err) {
        fail(err as Error);
      }
    });
    void exited.then((code) => fail(new Error(`hub emulator process exited (${code}) before listening: ${stderr}`)));
  }).catch(async (err) => {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  });
  let nextId = 0;
  return {
    url,
    requestsCount: () => new Promise<number>((ok, fail) => {
      const id = ++nextId;
      const onMessage = (m: { type?: string; id?: number; count?: number }) => {
        if (m?.type !== 'requestsCount' || m.id !== id) return;
        child.off('message', onMessage);
        ok(m.count ?? 0);
      };
      child.on('message', onMessage);
      if (!child.connected) return fail(new Error('hub emulator process is gone'));
      child.send({ type: 'requestsCount', id });
    }),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--config');
  if (at < 0 || !argv[at + 1]) throw new Error('usage: node --import tsx test/helpers/hub-emulator.ts --config <options.json>');
  const hub = await HubEmulator.start(JSON.parse(await readFile(argv[at + 1], 'utf8')) as HubEmulatorOptions);
  const stop = () => void hub.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop); // the parent went away
  process.on('message', (m: { type?: string; id?: number }) => {
    if (m?.type === 'requestsCount') process.send?.({ type: 'requestsCount', id: m.id, count: hub.requests.length });
  });
  process.stdout.write(`${JSON.stringify({ url: hub.url })}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
