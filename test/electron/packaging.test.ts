// The installer configuration (electron/electron-builder.config.ts), statically, for every platform:
// the native modules' real files are unpacked from the asar, each platform keeps only its own OS and
// architecture's binaries (checked against onnxruntime-node's installed bin/ tree with electron-builder's
// own matcher, minimatch), the three OSes have their targets, and every packaged path exists or is a
// build output. test/electron/package-dir.test.ts runs electron-builder itself for Linux.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { minimatch } from 'minimatch';
import sharp from 'sharp';
import { BUNDLES, DEFAULT_OUT_DIR, RENDERER_OUT_DIR, ROOT } from '../../electron/build.ts';
import config, { COMMON_FILES, NATIVE_MODULES } from '../../electron/electron-builder.config.ts';
import { MIN_NODE, targetFromArgs } from '../../electron/packaging/dist.ts';

/** electron-builder's matching: minimatch with dot files, after its \${arch} macro. */
const matches = (file: string, glob: string, arch = 'x64'): boolean => minimatch(file, glob.replaceAll('${arch}', arch), { dot: true });
const excludedBy = (file: string, patterns: readonly string[], arch = 'x64'): boolean =>
  patterns.some((p) => p.startsWith('!') && matches(file, p.slice(1), arch));

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split('\\').join('/'));
}

const PLATFORMS = { linux: config.linux, win32: config.win, darwin: config.mac } as const;

describe('electron-builder configuration', () => {
  it('unpacks every native module from the asar, with the libraries beside its .node files', () => {
    for (const m of NATIVE_MODULES) {
      assert.ok(config.asarUnpack.some((p) => matches(`node_modules/${m}/x/y.node`, p)), `${m} is unpacked`);
    }
    const natives = [
      ...filesUnder('node_modules/onnxruntime-node/bin'),
      ...filesUnder('node_modules/@img').filter((f) => /\.(node|so[.\d]*|dylib|dll)$/.test(f)),
      ...filesUnder('node_modules/better-sqlite3/build/Release').filter((f) => f.endsWith('better_sqlite3.node')),
    ];
    assert.ok(natives.some((f) => f.endsWith('better_sqlite3.node')) && natives.some((f) => f.includes('/@img/')));
    for (const f of natives) assert.ok(config.asarUnpack.some((p) => matches(f, p)), `${f} is unpacked`);
  });

  it("keeps only each platform's own onnxruntime-node and sharp binaries, for the target architecture", () => {
    const ort = filesUnder('node_modules/onnxruntime-node/bin');
    const sharpPackages = [
      'sharp-linux-x64', 'sharp-libvips-linux-x64', 'sharp-linux-arm64', 'sharp-linuxmusl-arm64', 'sharp-linuxmusl-x64',
      'sharp-win32-x64', 'sharp-win32-arm64', 'sharp-darwin-arm64', 'sharp-darwin-x64', 'sharp-libvips-darwin-arm64', 'sharp-wasm32',
    ].map((p) => `node_modules/@img/${p}/lib/binary`);
    for (const [os, options] of Object.entries(PLATFORMS)) {
      for (const arch of ['x64', 'arm64']) {
        const own = (f: string): boolean => f.includes(`/${os}/${arch}/`) || f.includes(`/sharp-${os}-${arch}/`) || f.includes(`/sharp-libvips-${os}-${arch}/`);
        const kept = [...ort, ...sharpPackages].filter((f) => !excludedBy(f, options.files, arch));
        if (ort.some((f) => f.includes(`/${os}/${arch}/`))) {
          assert.ok(kept.some((f) => f.includes(`/${os}/${arch}/`) && f.endsWith('onnxruntime_binding.node')), `${os}-${arch} keeps its ONNX Runtime`);
        }
        assert.deepEqual(kept.filter((f) => !own(f)), [], `${os}-${arch} drops the other platforms' and architectures' binaries`);
      }
    }
    // onnxruntime-node's DirectML runtime ships only with Windows; CUDA/TensorRT providers only in a GPU build.
    assert.ok(excludedBy('node_modules/onnxruntime-node/bin/napi-v6/win32/x64/DirectML.dll', config.linux.files));
    assert.ok(excludedBy('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so', config.linux.files));
    assert.ok(excludedBy('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_tensorrt.so', config.linux.files));
    assert.ok(!excludedBy('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1', config.linux.files));
  });

  it('builds deb and AppImage on Linux, NSIS on Windows, dmg on macOS', () => {
    assert.deepEqual(config.linux.target, ['deb', 'AppImage']);
    assert.deepEqual(config.win.target, ['nsis']);
    assert.deepEqual(config.mac.target, ['dmg']);
    assert.equal(config.productName, 'Photo Assistant');
    assert.ok(config.appId.includes('.'));
  });

  it('packages only paths that exist or that the build writes', () => {
    const buildOutputs = [DEFAULT_OUT_DIR, RENDERER_OUT_DIR].map((d) => relative(ROOT, d).split('\\').join('/'));
    for (const pattern of COMMON_FILES.filter((p) => !p.startsWith('!'))) {
      const staticPart = pattern.split('/').filter((_, i, segs) => !segs.slice(0, i + 1).some((s) => /[*{?]/.test(s))).join('/');
      const ok = buildOutputs.includes(staticPart) || existsSync(join(ROOT, staticPart));
      assert.ok(ok, `${pattern}: ${staticPart} neither exists nor is a build output`);
    }
    // The packaged app starts the bundled main process (package.json's own "main" is not the app's).
    assert.equal(config.extraMetadata.main, `${relative(ROOT, DEFAULT_OUT_DIR).split('\\').join('/')}/${BUNDLES.main.out}`);
    for (const options of Object.values(PLATFORMS)) {
      assert.ok(!excludedBy(config.extraMetadata.main, options.files), 'the main bundle is not excluded');
      assert.ok(options.files.includes('assets/**/*'), 'assets (tag vocabulary, icons) ship with the app');
      assert.deepEqual(options.files.slice(0, COMMON_FILES.length), COMMON_FILES, 'each platform packages the common list');
    }
    // A top-level `files` would be a second file set, and a platform list of only exclusions would add back "**/*".
    assert.ok(!('files' in config));
  });

  it("packages every data file the core looks up beside its sources (new URL('…', import.meta.url))", () => {
    // electron/build.ts maps each module's import.meta.url to <app>/<its source path>, so inside the
    // package a lookup lands at <app.asar>/<the same path relative to the repository> and must be packaged.
    // Script entries of Node children and threads are for the CLI only (the app starts electron/dist/*.cjs:
    // the decode thread runs decode-worker.cjs, test/electron/build.test.ts and package-dir.test.ts).
    const CLI_ONLY = ['src/jobs/worker-main.ts', 'src/jobs/convert-worker-main.ts', 'src/runtime/image/decode/decode-worker.ts'];
    const lookups: string[] = [];
    for (const file of filesUnder('src').filter((f) => f.endsWith('.ts'))) {
      const code = readFileSync(join(ROOT, file), 'utf8');
      for (const m of code.matchAll(/new URL\(\s*'([^']+)',\s*import\.meta\.url\s*\)/g)) {
        lookups.push(relative(ROOT, join(ROOT, file, '..', m[1])).split('\\').join('/'));
      }
    }
    assert.ok(lookups.includes('assets/tags/vocabulary.json'), `the tag vocabulary is among ${lookups.join(', ')}`);
    const included = (f: string): boolean => COMMON_FILES.some((p) => !p.startsWith('!') && matches(f, p)) && !excludedBy(f, COMMON_FILES);
    for (const f of lookups.filter((l) => !CLI_ONLY.includes(l))) {
      assert.ok(existsSync(join(ROOT, f)), `${f} exists`);
      assert.ok(included(f), `${f} is packaged`);
    }
  });

  it('has a 512×512 icon for every platform', async () => {
    for (const options of Object.values(PLATFORMS)) {
      const icon = join(ROOT, options.icon);
      assert.ok(existsSync(icon), icon);
      const meta = await sharp(icon).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 512, 512]);
    }
    assert.ok(existsSync(join(ROOT, 'assets/icons/icon.svg')), 'the icon source');
  });

  it("points the app's users to no command line: the installers ship none", () => {
    for (const f of filesUnder('renderer/src').filter((x) => /\.(svelte|ts)$/.test(x) && !/\.test\.ts$/.test(x))) {
      assert.doesNotMatch(readFileSync(join(ROOT, f), 'utf8'), /photo-assistant (convert|caption|models|index)|npx photo-assistant/, f);
    }
  });

  it('is the configuration `npm run dist` uses, after `npm run build`', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts.dist, 'npm run build && node --import tsx electron/packaging/dist.ts');
    assert.match(scripts.build, /electron\/build\.ts/);
    const dist = readFileSync(join(ROOT, 'electron/packaging/dist.ts'), 'utf8');
    assert.match(dist, /\['--config', BUILDER_CONFIG/);
    assert.match(dist, /export const BUILDER_CONFIG = 'electron\/electron-builder\.config\.ts'/);
    // Nothing rebuilds this checkout's node_modules for Electron: afterPack places a staged build.
    assert.equal(config.npmRebuild, false);
  });

  it('`npm run dist` reads its target from the electron-builder flags', () => {
    assert.deepEqual(targetFromArgs(['--linux']), { platform: 'linux', arch: process.arch });
    assert.deepEqual(targetFromArgs(['--linux', 'deb', '--arm64']), { platform: 'linux', arch: 'arm64' });
    assert.deepEqual(targetFromArgs(['--win', '--x64']), { platform: 'win32', arch: 'x64' });
  });

  it('`npm run dist` on Node before 22.12 says it needs 22.12, before doing anything', (t) => {
    const [major, minor] = process.versions.node.split('.').map(Number);
    if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return t.skip(`this is Node ${process.version}: dist would really run`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'electron/packaging/dist.ts'), '--linux'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /needs Node 22\.12 or later/);
  });
});
