// The esbuild half of `npm run build` (electron/build.ts), for real: the three bundles are
// CommonJS scripts that require only Node builtins, Electron and the native externals (the preload
// only 'electron'), carry no import.meta, keep the window's security switches, and load in Node:
// the worker bundle speaks the protocol over a stand-in parentPort, and the main bundle evaluates
// its whole module graph up to app 'ready' against a stand-in 'electron' (Electron cannot run here).
// Bundles go to .cache/ inside the repository so their externals resolve from node_modules.
import assert from 'node:assert/strict';
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { BUNDLES, type BundleName, MAIN_EXTERNALS, ROOT, bundleElectron } from '../../electron/build.ts';
import type { HostMessage, WorkerMessage } from '../../src/jobs/protocol.ts';

let outDir: string;
const text = {} as Record<BundleName, string>;
const path = {} as Record<BundleName, string>;

before(async () => {
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  outDir = await mkdtemp(join(ROOT, '.cache', 'electron-build-'));
  const result = await bundleElectron({ outDir });
  assert.deepEqual(result.warnings.map((w) => w.text), [], 'esbuild warnings');
  for (const name of Object.keys(BUNDLES) as BundleName[]) {
    const file = result.files[name];
    assert.ok(file, `${name} bundle`);
    path[name] = file;
    text[name] = await readFile(file, 'utf8');
  }
});

after(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

function requiredModules(code: string): string[] {
  // require2, require3…: esbuild's names for a module's own `const require = createRequire(import.meta.url)`.
  return [...new Set([...code.matchAll(/\brequire\d*\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]))].sort();
}
/**
 * Packages the bundles load from node_modules besides the natives: none. graph-builder.ts's
 * `require('onnx-proto')` through createRequire is bundled (electron/build.ts drops the declaration),
 * so the package ships no onnx-proto/protobufjs tree (electron/packaging/dependencies.ts).
 */
const RUNTIME_REQUIRED: string[] = [];
const isBuiltin = (m: string): boolean => m.startsWith('node:') || builtinModules.includes(m);

describe('the decode worker bundle', () => {
  it('decodes a HEIC and a JPEG XL on a plain worker thread (no tsx), as the app starts it', async () => {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(path.decode);
    try {
      const ask = (id: number, kind: 'heif' | 'jxl', file: string) => new Promise<{ ok: boolean; width?: number; height?: number; data?: Uint8Array; message?: string }>((resolve, reject) => {
        const bytes = new Uint8Array(readFileSync(join(ROOT, 'test', 'fixtures', 'formats', file)));
        w.on('message', function on(m: { id: number }) { if (m.id === id) { w.off('message', on); resolve(m as never); } });
        w.once('error', reject);
        w.postMessage({ id, kind, bytes, maxPixels: 100_000_000 }, [bytes.buffer]);
      });
      const heic = await ask(1, 'heif', 'coffee.heic');
      assert.equal(heic.ok, true, heic.message);
      assert.ok(heic.width! > 0 && heic.height! > 0);
      assert.equal(heic.data!.length, heic.width! * heic.height! * 3, 'RGB pixels');
      // The JPEG XL decoder is a run-time package (electron/build.ts RUNTIME_PACKAGES), found from the bundle.
      const jxl = await ask(2, 'jxl', 'chelsea.jxl');
      assert.equal(jxl.ok, true, jxl.message);
      assert.equal(jxl.data!.length, jxl.width! * jxl.height! * 3);
    } finally {
      await w.terminate();
    }
  });
});

describe('electron bundles', () => {
  it('are CommonJS scripts with no import.meta left', () => {
    for (const name of Object.keys(BUNDLES) as BundleName[]) {
      // A script parse fails on import/export statements: the bundle is plain CommonJS.
      assert.doesNotThrow(() => new Script(text[name], { filename: path[name] }), `${name} parses as a script`);
      assert.doesNotMatch(text[name], /\bimport\.meta\b/, `${name} has no import.meta`);
    }
    assert.match(text.main, /module\.exports|__toCommonJS|require\("electron"\)/);
  });

  it("resolve each module's import.meta.url, and the files it looks up, from the bundle's folder", () => {
    for (const name of ['main', 'worker', 'convert'] as const) {
      const sources = [...text[name].matchAll(/__paImportMetaUrl\("([^"]+)"\)/g)].map((m) => m[1]);
      // The worker's only use was graph-builder.ts's createRequire, now bundled away.
      if (name !== 'worker') assert.ok(sources.length > 0, `${name} uses import.meta.url`);
      for (const s of sources) assert.ok(existsSync(join(outDir, s)), `${name}: ${s} is the module's source file`);
      // new URL('<relative>', import.meta.url): assets (e.g. the tag vocabulary) and the Node worker entry.
      for (const m of text[name].matchAll(/new URL\("([^"]+)", __paImportMetaUrl\("([^"]+)"\)\)/g)) {
        const looked = fileURLToPath(new URL(m[1], pathToFileURL(join(outDir, m[2]))));
        assert.ok(existsSync(looked), `${name}: ${m[1]} from ${m[2]} → ${looked}`);
      }
    }
  });

  it('require only builtins, electron and the native modules (the preload only electron)', () => {
    assert.deepEqual(requiredModules(text.preload), ['electron']);
    const allowed = new Set<string>([...MAIN_EXTERNALS, ...RUNTIME_REQUIRED]);
    for (const name of ['main', 'worker', 'convert', 'decode'] as const) {
      const extra = requiredModules(text[name]).filter((m) => !isBuiltin(m) && !allowed.has(m));
      assert.deepEqual(extra, [], `${name} requires only builtins and ${[...allowed].join(', ')}`);
    }
    const dependencies = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
    for (const m of RUNTIME_REQUIRED) assert.ok(dependencies[m], `${m} is a production dependency, so it is packaged`);
    for (const name of ['worker', 'convert'] as const) assert.ok(!requiredModules(text[name]).includes('onnx-proto'), `${name} bundles onnx-proto`);
    assert.match(text.convert, /TensorProto/, 'the converter carries onnx-proto');
    assert.ok(requiredModules(text.main).includes('electron'));
    assert.ok(requiredModules(text.worker).includes('onnxruntime-node'), 'the worker runs ONNX Runtime');
    assert.ok(!requiredModules(text.worker).includes('electron'), 'the worker entry needs no electron module');
    assert.ok(!requiredModules(text.convert).includes('electron'), 'the converter entry needs no electron module');
  });

  it('keep the window locked down', () => {
    assert.match(text.main, /contextIsolation:\s*true/);
    assert.match(text.main, /sandbox:\s*true/);
    assert.match(text.main, /nodeIntegration:\s*false/);
    assert.doesNotMatch(text.main, /nodeIntegration:\s*true/);
    assert.doesNotMatch(text.main, /webSecurity:\s*false/);
    assert.doesNotMatch(text.main, /\.loadFile\(/, 'the renderer is served from app://, never a file');
    assert.match(text.main, /setWindowOpenHandler\(\(\) => \(\{ action: "deny" \}\)\)/);
    assert.match(text.main, /default-src 'self'/);
  });

  it('expose exactly the contract bridge from the preload', () => {
    const exposed = [...text.preload.matchAll(/exposeInMainWorld\(\s*"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(exposed, ['photoAssistant']);
  });
});

/** The entry sees a parentPort that relays to this test over a fork IPC channel (as Electron's would). */
const PARENT_PORT_STUB = `
const { EventEmitter } = require('node:events');
const port = new EventEmitter();
port.postMessage = (message) => process.send(message);
process.on('message', (data) => port.emit('message', { data, ports: [] }));
process.parentPort = port;
`;

describe('worker bundle in a stand-in utility process', () => {
  let child: ChildProcess | undefined;
  after(() => child?.kill('SIGKILL'));

  it('announces itself, rejects garbage as data, and exits 0 on shutdown', async () => {
    const stub = join(outDir, 'parent-port-stub.cjs');
    await writeFile(stub, PARENT_PORT_STUB);
    const proc = fork(path.worker, [], { execArgv: ['--require', stub], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const messages: WorkerMessage[] = [];
    const waiters: { test: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }[] = [];
    proc.on('message', (raw) => {
      const m = raw as WorkerMessage;
      messages.push(m);
      for (const w of waiters.splice(0)) (w.test(m) ? w.resolve(m) : waiters.push(w));
    });
    const next = (test: (m: WorkerMessage) => boolean): Promise<WorkerMessage> =>
      new Promise((resolve) => {
        const seen = messages.find(test);
        if (seen) resolve(seen);
        else waiters.push({ test, resolve });
      });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

    const ready = await next((m) => m.type === 'ready');
    assert.deepEqual(ready, { type: 'ready', pid: proc.pid });

    proc.send({ type: 'no-such-request', id: 'x1' });
    const error = await next((m) => m.type === 'error');
    assert.equal(error.type === 'error' && error.error.code, 'invalid_argument');

    proc.send({ type: 'shutdown' } satisfies HostMessage);
    assert.equal(await exited, 0, stderr);
  });

  it('refuses to run outside a utility process', () => {
    const r = spawnSync(process.execPath, [path.worker], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must be started as an Electron utility process/);
  });
});

/** Records what the main bundle asks of Electron before 'ready' (whenReady never resolves here). */
const ELECTRON_STUB = `
const Module = require('node:module');
const calls = [];
const rec = (name, ret) => (...args) => {
  calls.push([name, ...args.map((a) => (typeof a === 'function' ? '[fn]' : a))]);
  return typeof ret === 'function' ? ret(...args) : ret;
};
const app = {
  isPackaged: false,
  setName: rec('app.setName'),
  setPath: rec('app.setPath'),
  getPath: rec('app.getPath', (name) => '/fake/' + name),
  enableSandbox: rec('app.enableSandbox'),
  requestSingleInstanceLock: rec('app.requestSingleInstanceLock', process.env.FAKE_LOCK === '1'),
  quit: rec('app.quit'),
  exit: rec('app.exit'),
  on: rec('app.on'),
  whenReady: rec('app.whenReady', () => new Promise(() => {})),
};
const electron = {
  app,
  protocol: { registerSchemesAsPrivileged: rec('protocol.registerSchemesAsPrivileged') },
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'electron' ? electron : load.call(this, request, ...rest);
};
process.on('exit', () => process.stdout.write(JSON.stringify(calls)));
`;

describe('main bundle before app ready (stand-in electron module)', () => {
  type Call = [string, ...unknown[]];
  async function runMain(lock: boolean): Promise<Call[]> {
    const stub = join(outDir, 'electron-stub.cjs');
    await writeFile(stub, ELECTRON_STUB);
    const r = spawnSync(process.execPath, ['--require', stub, path.main], {
      encoding: 'utf8',
      env: { ...process.env, FAKE_LOCK: lock ? '1' : '0' },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Call[];
  }
  const names = (calls: Call[]): string[] => calls.map((c) => c[0]);

  it('a second instance only asks for the lock and quits', async () => {
    const calls = await runMain(false);
    assert.deepEqual(names(calls).filter((n) => n !== 'app.getPath'), [
      'app.setName', 'app.setPath', 'app.enableSandbox', 'app.requestSingleInstanceLock', 'app.quit',
    ]);
    assert.deepEqual(calls[0], ['app.setName', 'Photo Assistant']);
    assert.deepEqual(calls.find((c) => c[0] === 'app.setPath'), ['app.setPath', 'userData', join('/fake/appData', 'Photo Assistant')]);
  });

  it('the first instance registers the privileged schemes and the guards, then waits for ready', async () => {
    const calls = await runMain(true);
    assert.ok(!names(calls).includes('app.quit'));
    const schemes = calls.find((c) => c[0] === 'protocol.registerSchemesAsPrivileged')?.[1] as { scheme: string; privileges: Record<string, boolean> }[];
    assert.deepEqual(schemes.map((s) => s.scheme), ['app', 'pa-media']);
    for (const s of schemes) {
      assert.equal(s.privileges.standard, true);
      assert.equal(s.privileges.secure, true);
      assert.equal(s.privileges.bypassCSP, undefined, 'no scheme bypasses the CSP');
    }
    assert.equal(schemes[1].privileges.stream, true);
    const events = calls.filter((c) => c[0] === 'app.on').map((c) => c[1]);
    assert.ok(events.includes('second-instance'));
    assert.ok(events.includes('web-contents-created'), 'every webContents gets the navigation and popup guards');
    assert.ok(names(calls).includes('app.whenReady'));
  });
});
