// The installer configuration (electron/electron-builder.config.ts; building an installer needs the
// network, so it is not run here): the native modules' real files are unpacked from the asar, each
// platform keeps only its own binaries (checked against onnxruntime-node's installed bin/ tree), the
// three OSes have their targets, and every packaged path exists or is a build output.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { BUNDLES, DEFAULT_OUT_DIR, RENDERER_OUT_DIR, ROOT } from '../../electron/build.ts';
import config, { NATIVE_MODULES } from '../../electron/electron-builder.config.ts';

/** electron-builder's glob subset used in the config: `**`, `*`, `{a,b}`. */
function globToRegExps(glob: string): RegExp[] {
  const m = /\{([^{}]*)\}/.exec(glob);
  if (m) return m[1].split(',').flatMap((alt) => globToRegExps(glob.slice(0, m.index) + alt + glob.slice(m.index + m[0].length)));
  const body = glob.split('/').map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))).join('/');
  return [new RegExp(`^${body}$`)];
}
const matches = (file: string, glob: string): boolean => globToRegExps(glob).some((r) => r.test(file));
const excludedBy = (file: string, patterns: readonly string[]): boolean =>
  patterns.some((p) => p.startsWith('!') && matches(file, p.slice(1)));

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

  it("keeps only each platform's own onnxruntime-node and sharp binaries", () => {
    const ort = filesUnder('node_modules/onnxruntime-node/bin');
    const sharpPackages = [
      'sharp-linux-x64', 'sharp-libvips-linux-x64', 'sharp-linuxmusl-arm64', 'sharp-win32-x64',
      'sharp-darwin-arm64', 'sharp-libvips-darwin-arm64', 'sharp-wasm32',
    ].map((p) => `node_modules/@img/${p}/lib/binary`);
    for (const [os, options] of Object.entries(PLATFORMS)) {
      const own = (f: string): boolean => f.split('/').some((seg) => seg === os || seg.startsWith(`sharp-${os}`) || seg.startsWith(`sharp-libvips-${os}`));
      const kept = [...ort, ...sharpPackages].filter((f) => !excludedBy(f, options.files));
      assert.ok(kept.some((f) => f.includes(`/${os}/`) && f.endsWith('onnxruntime_binding.node')), `${os} keeps its ONNX Runtime`);
      assert.deepEqual(kept.filter((f) => !own(f)), [], `${os} drops the other platforms' binaries`);
    }
    // onnxruntime-node's DirectML runtime ships only with Windows.
    assert.ok(excludedBy('node_modules/onnxruntime-node/bin/napi-v6/win32/x64/DirectML.dll', config.linux.files));
  });

  it('builds AppImage and deb on Linux, NSIS on Windows, dmg on macOS', () => {
    assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
    assert.deepEqual(config.win.target, ['nsis']);
    assert.deepEqual(config.mac.target, ['dmg']);
    assert.equal(config.productName, 'Photo Assistant');
    assert.ok(config.appId.includes('.'));
  });

  it('packages only paths that exist or that the build writes', () => {
    const buildOutputs = [DEFAULT_OUT_DIR, RENDERER_OUT_DIR].map((d) => relative(ROOT, d).split('\\').join('/'));
    for (const pattern of config.files.filter((p) => !p.startsWith('!'))) {
      const staticPart = pattern.split('/').filter((_, i, segs) => !segs.slice(0, i + 1).some((s) => /[*{?]/.test(s))).join('/');
      const ok = buildOutputs.includes(staticPart) || existsSync(join(ROOT, staticPart));
      assert.ok(ok, `${pattern}: ${staticPart} neither exists nor is a build output`);
    }
    // The packaged app starts the bundled main process (package.json's own "main" is not the app's).
    assert.equal(config.extraMetadata.main, `${relative(ROOT, DEFAULT_OUT_DIR).split('\\').join('/')}/${BUNDLES.main.out}`);
    assert.ok(!excludedBy(config.extraMetadata.main, config.files), 'the main bundle is not excluded');
    assert.ok(config.files.includes('assets/**/*'), 'assets (tag vocabulary, icons) ship with the app');
  });

  it("packages every data file the core looks up beside its sources (new URL('…', import.meta.url))", () => {
    // electron/build.ts maps each module's import.meta.url to <app>/<its source path>, so inside the
    // package a lookup lands at <app.asar>/<the same path relative to the repository> and must be packaged.
    // Script entries of Node children are for the CLI only (the app forks electron/dist/*.cjs).
    const CLI_ONLY = ['src/jobs/worker-main.ts', 'src/jobs/convert-worker-main.ts'];
    const lookups: string[] = [];
    for (const file of filesUnder('src').filter((f) => f.endsWith('.ts'))) {
      const code = readFileSync(join(ROOT, file), 'utf8');
      for (const m of code.matchAll(/new URL\(\s*'([^']+)',\s*import\.meta\.url\s*\)/g)) {
        lookups.push(relative(ROOT, join(ROOT, file, '..', m[1])).split('\\').join('/'));
      }
    }
    assert.ok(lookups.includes('assets/tags/vocabulary.json'), `the tag vocabulary is among ${lookups.join(', ')}`);
    const included = (f: string): boolean => config.files.some((p) => !p.startsWith('!') && matches(f, p)) && !excludedBy(f, config.files);
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

  it('is the configuration `npm run dist` uses, after `npm run build`', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts.dist, /^npm run build && electron-builder --config electron\/electron-builder\.config\.ts\b/);
    assert.match(scripts.build, /electron\/build\.ts/);
  });
});
