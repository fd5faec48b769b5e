// The Hub emulator against @huggingface/hub (as our downloader calls it) and plain fetch, over loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { downloadFile, fileDownloadInfo, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { HubEmulator, startHubEmulatorProcess } from './hub-emulator.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPT_DIR = join(process.env.PHOTO_ASSISTANT_SHARED ?? join(repoRoot, '..', 'shared'), 'fixtures', 'hf-blip2', 'opt');
const OPT = 'Salesforce/blip2-opt-2.7b';
const GATED = 'test/gated-opt';
const TOKEN = 'hf_emulator_test_token';
const COMMIT = createHash('sha1').update(OPT).digest('hex');

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const localFiles = (dir: string, rel = ''): string[] => readdirSync(join(dir, rel), { withFileTypes: true })
  .flatMap((e) => (e.isDirectory() ? localFiles(dir, `${rel}${e.name}/`) : [`${rel}${e.name}`])).sort();
const isLfs = (p: string) => statSync(join(OPT_DIR, p)).size >= 1024 || /\.(safetensors|bin|onnx|data)$/.test(p);

async function listAll(hub: HubEmulator, repo = OPT, extra: { accessToken?: string; revision?: string } = {}): Promise<ListFileEntry[]> {
  const out: ListFileEntry[] = [];
  for await (const f of listFiles({ repo: { type: 'model', name: repo }, recursive: true, hubUrl: hub.url, ...extra })) out.push(f);
  return out;
}

describe('HubEmulator', () => {
  let hub: HubEmulator;
  const files = localFiles(OPT_DIR);
  const weights = readFileSync(join(OPT_DIR, 'model.safetensors'));

  before(async () => {
    hub = await HubEmulator.start({
      tokens: [TOKEN],
      repos: [{ id: OPT, dir: OPT_DIR, branches: ['v1.0'] }, { id: GATED, dir: OPT_DIR, gated: true, commit: 'c'.repeat(40) }],
    });
  });
  after(() => hub?.close());

  it('listFiles shows every file with its size, LFS sha256 and git oids', async () => {
    assert.match(hub.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const listed = await listAll(hub);
    const listedFiles = listed.filter((f) => f.type === 'file');
    assert.deepEqual(listedFiles.map((f) => f.path).sort(), files);
    assert.deepEqual(listed.filter((f) => f.type === 'directory').map((f) => f.path).sort(), ['arrays', 'logits']);
    for (const f of listedFiles) {
      const bytes = readFileSync(join(OPT_DIR, f.path));
      assert.equal(f.size, bytes.length, f.path);
      if (isLfs(f.path)) {
        assert.deepEqual(f.lfs && { oid: f.lfs.oid, size: f.lfs.size }, { oid: sha256(bytes), size: bytes.length }, f.path);
        const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.length}\n`;
        assert.equal(f.oid, gitOid(Buffer.from(pointer)), `${f.path}: oid of the LFS pointer`);
        assert.equal(f.lfs?.pointerSize, pointer.length);
      } else {
        assert.equal(f.lfs, undefined, f.path);
        assert.equal(f.oid, gitOid(bytes), f.path);
      }
    }
    // A folder, not recursive: only its files.
    const arrays: ListFileEntry[] = [];
    for await (const f of listFiles({ repo: OPT, path: 'arrays', hubUrl: hub.url })) arrays.push(f);
    assert.deepEqual(arrays.map((f) => f.path), files.filter((p) => p.startsWith('arrays/')));
  });

  it('modelInfo gives the commit sha for a branch, the commit itself and HEAD', async () => {
    for (const revision of ['main', 'v1.0', COMMIT, undefined]) {
      const info = await modelInfo({ name: OPT, hubUrl: hub.url, additionalFields: ['sha'], ...(revision ? { revision } : {}) });
      assert.equal(info.sha, COMMIT);
      assert.equal(info.name, OPT);
      assert.equal(info.gated, false);
      assert.match(info.id, /^[0-9a-f]{24}$/);
    }
    const withFiles = await modelInfo({ name: OPT, hubUrl: hub.url, additionalFields: ['filePaths'] });
    assert.deepEqual([...withFiles.filePaths].sort(), files);
    const blobs = await (await fetch(`${hub.url}/api/models/${OPT}?blobs=true`)).json() as { siblings: Array<{ rfilename: string; size: number; lfs?: { sha256: string } }> };
    const weightsEntry = blobs.siblings.find((s) => s.rfilename === 'model.safetensors');
    assert.deepEqual([weightsEntry?.size, weightsEntry?.lfs?.sha256], [weights.length, sha256(weights)]);
  });

  it('resolve redirects LFS files to a CDN URL that serves ranges; small files come directly', async () => {
    const resolveUrl = `${hub.url}/${OPT}/resolve/main/model.safetensors`;
    const redirect = await fetch(resolveUrl, { method: 'HEAD', redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('x-repo-commit'), COMMIT);
    assert.equal(redirect.headers.get('x-linked-etag'), `"${sha256(weights)}"`);
    assert.equal(redirect.headers.get('x-linked-size'), String(weights.length));
    assert.ok(redirect.headers.get('etag'));
    assert.ok(redirect.headers.get('location')?.startsWith(`${hub.url}/cdn/`));

    const cut = 1_234_567;
    const first = await fetch(resolveUrl, { headers: { Range: `bytes=0-${cut - 1}` } });
    assert.equal(first.status, 206);
    assert.equal(first.headers.get('content-range'), `bytes 0-${cut - 1}/${weights.length}`);
    assert.equal(first.headers.get('etag'), `"${sha256(weights)}"`);
    assert.equal(first.headers.get('accept-ranges'), 'bytes');
    const rest = await fetch(`${hub.url}/${OPT}/resolve/${COMMIT}/model.safetensors`, { headers: { Range: `bytes=${cut}-` } });
    assert.equal(rest.status, 206);
    const a = new Uint8Array(await first.arrayBuffer());
    const b = new Uint8Array(await rest.arrayBuffer());
    assert.equal(a.length, cut);
    assert.equal(sha256(Buffer.concat([a, b])), sha256(weights));
    const beyond = await fetch(resolveUrl, { headers: { Range: `bytes=${weights.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${weights.length}`);

    const small = await fetch(`${hub.url}/${OPT}/resolve/main/tokenizer_config.json`, { redirect: 'manual' });
    const smallBytes = readFileSync(join(OPT_DIR, 'tokenizer_config.json'));
    assert.equal(small.status, 200);
    assert.equal(small.headers.get('etag'), `"${gitOid(smallBytes)}"`);
    assert.equal(small.headers.get('content-length'), String(smallBytes.length));
    assert.deepEqual(Buffer.from(await small.arrayBuffer()), smallBytes);
  });

  it('downloadFile and fileDownloadInfo of @huggingface/hub work through the redirect', async () => {
    const info = await fileDownloadInfo({ repo: OPT, path: 'model.safetensors', hubUrl: hub.url });
    assert.equal(info?.size, weights.length);
    assert.equal(info?.etag, `"${sha256(weights)}"`);
    const blob = await downloadFile({ repo: OPT, path: 'model.safetensors', hubUrl: hub.url });
    assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(weights));
    const small = await fileDownloadInfo({ repo: OPT, path: 'tokenizer_config.json', revision: 'v1.0', hubUrl: hub.url });
    const smallBytes = readFileSync(join(OPT_DIR, 'tokenizer_config.json'));
    assert.deepEqual([small?.size, small?.etag], [smallBytes.length, `"${gitOid(smallBytes)}"`], 'a non-LFS file answers the 0-0 probe itself');
    const text = await (await downloadFile({ repo: OPT, path: 'tokenizer_config.json', hubUrl: hub.url }))!.text();
    assert.equal(text, smallBytes.toString('utf8'));
    assert.equal(await fileDownloadInfo({ repo: OPT, path: 'nope.json', hubUrl: hub.url }), null);
  });

  it('a gated repo answers 401 GatedRepo without a valid token and serves with one', async () => {
    for (const url of [`${hub.url}/api/models/${GATED}`, `${hub.url}/${GATED}/resolve/main/config.json`]) {
      for (const headers of [{}, { Authorization: 'Bearer hf_wrong' }] as Array<Record<string, string>>) {
        const r = await fetch(url, { headers });
        assert.equal(r.status, 401, url);
        assert.equal(r.headers.get('x-error-code'), 'GatedRepo');
        assert.match(((await r.json()) as { error: string }).error, /restricted/);
      }
    }
    await assert.rejects(modelInfo({ name: GATED, hubUrl: hub.url }), (e: { statusCode?: number }) => e.statusCode === 401);
    const info = await modelInfo({ name: GATED, hubUrl: hub.url, accessToken: TOKEN, additionalFields: ['sha'] });
    assert.equal(info.sha, 'c'.repeat(40));
    assert.equal(info.gated, 'auto');
    assert.ok((await listAll(hub, GATED, { accessToken: TOKEN })).length > 0);
    const r = await fetch(`${hub.url}/${GATED}/resolve/main/model.safetensors`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    assert.equal(sha256(new Uint8Array(await r.arrayBuffer())), sha256(weights));
    const cdn = await fetch(`${hub.url}/${GATED}/resolve/main/model.safetensors`, { redirect: 'manual', headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal((await fetch(cdn.headers.get('location')!)).status, 401, 'the CDN URL checks the token too');
    const log = hub.requests.at(-1)!;
    assert.equal(log.auth, false);
    assert.ok(!JSON.stringify(hub.requests).includes(TOKEN), 'the log never holds a token');
  });

  it('404s carry the Hub error codes', async () => {
    const cases: Array<[string, string]> = [
      [`/api/models/nobody/nothing`, 'RepoNotFound'],
      [`/nobody/nothing/resolve/main/config.json`, 'RepoNotFound'],
      [`/api/models/${OPT}/revision/nope`, 'RevisionNotFound'],
      [`/api/models/${OPT}/tree/nope`, 'RevisionNotFound'],
      [`/${OPT}/resolve/nope/config.json`, 'RevisionNotFound'],
      [`/${OPT}/resolve/main/nope.json`, 'EntryNotFound'],
    ];
    for (const [path, code] of cases) {
      const r = await fetch(hub.url + path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers.get('x-error-code'), code, path);
      assert.ok(((await r.json()) as { error: string }).error, path);
    }
    assert.deepEqual(await (await fetch(`${hub.url}/api/models/nobody/nothing`)).json(), { error: 'Repository not found' });
  });

  it('failNext answers 429 with Retry-After, then the real answer', async () => {
    hub.faults.reset();
    hub.faults.failNext(2, 429, { retryAfter: 0, pathIncludes: 'config.json' });
    const url = `${hub.url}/${OPT}/resolve/main/processor_config.json`;
    assert.equal((await fetch(`${hub.url}/${OPT}/resolve/main/vocab.json`, { redirect: 'manual' })).status, 302, 'not matching');
    for (let i = 0; i < 2; i++) {
      const r = await fetch(url);
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '0');
      await r.body?.cancel();
    }
    assert.equal((await fetch(url)).status, 200);
    hub.faults.failNext(1, 503);
    assert.equal((await fetch(`${hub.url}/api/models/${OPT}`)).status, 503);
    assert.equal((await fetch(`${hub.url}/api/models/${OPT}`)).status, 200);
  });

  it('dropAfter cuts the body once; stall keeps the socket silent; throttle slows bodies', async () => {
    hub.faults.reset();
    hub.faults.dropAfter('cdn', 100_000);
    const url = `${hub.url}/${OPT}/resolve/main/model.safetensors`;
    let got = 0;
    await assert.rejects(async () => {
      const r = await fetch(url);
      for await (const chunk of r.body!) got += chunk.length;
    });
    assert.ok(got <= 100_000, `${got} bytes before the drop`);
    assert.equal(sha256(new Uint8Array(await (await fetch(url)).arrayBuffer())), sha256(weights), 'only once');

    hub.faults.stall('model.safetensors', 5_000);
    const stalled = await fetch(url, { signal: AbortSignal.timeout(400) });
    await assert.rejects(stalled.arrayBuffer(), /abort|timeout/i);

    hub.faults.throttle(1_000_000);
    const t0 = performance.now();
    const r = await fetch(url, { headers: { Range: 'bytes=0-299999' } });
    assert.equal((await r.arrayBuffer()).byteLength, 300_000);
    assert.ok(performance.now() - t0 >= 250, `300 kB at 1 MB/s took ${performance.now() - t0} ms`);
    hub.faults.reset();
  });

  it('corrupt flips one byte at a file offset, in full and ranged bodies', async () => {
    hub.faults.reset();
    hub.faults.corrupt('model.safetensors', 5_000);
    const url = `${hub.url}/${OPT}/resolve/main/model.safetensors`;
    const full = new Uint8Array(await (await fetch(url)).arrayBuffer());
    assert.notEqual(sha256(full), sha256(weights));
    assert.equal(full[5_000], weights[5_000] ^ 0xff);
    const ranged = new Uint8Array(await (await fetch(url, { headers: { Range: 'bytes=4990-5009' } })).arrayBuffer());
    assert.equal(ranged[10], weights[5_000] ^ 0xff);
    assert.deepEqual(Buffer.from(ranged.subarray(0, 10)), weights.subarray(4990, 5000));
    hub.faults.reset();
    assert.equal(sha256(new Uint8Array(await (await fetch(url)).arrayBuffer())), sha256(weights));
  });

  it('paginates the tree with a Link header that listFiles follows, every file once', async () => {
    hub.pageSize = 7;
    try {
      const first = await fetch(`${hub.url}/api/models/${OPT}/tree/main?recursive=true&expand=false`);
      assert.equal(((await first.json()) as unknown[]).length, 7);
      assert.match(first.headers.get('link') ?? '', /^<http:\/\/127\.0\.0\.1:\d+\/api\/models\/.+\/tree\/main\?recursive=true&expand=false&cursor=[^>]+>; rel="next"$/);
      const before = hub.requests.length;
      const listed = await listAll(hub);
      const paths = listed.filter((f) => f.type === 'file').map((f) => f.path);
      assert.equal(paths.length, new Set(paths).size, 'no file twice');
      assert.deepEqual(paths.sort(), files);
      assert.equal(hub.requests.length - before, Math.ceil(listed.length / 7));
    } finally {
      hub.pageSize = 1000;
    }
  });
});

describe('startHubEmulatorProcess', () => {
  it('serves from a child process', async () => {
    const hub = await startHubEmulatorProcess({ repos: [{ id: OPT, dir: OPT_DIR }] });
    try {
      assert.match(hub.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await fetch(`${hub.url}/${OPT}/resolve/main/model.safetensors`, { headers: { Range: 'bytes=100-199' } });
      assert.equal(r.status, 206);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), readFileSync(join(OPT_DIR, 'model.safetensors')).subarray(100, 200));
      assert.equal(await hub.requestsCount(), 2, 'the resolve and the CDN request');
    } finally {
      await hub.close();
    }
  });
});
