// electron-builder's packaging step, for real and offline: the `dir` target for Linux x64 with our
// config against a stand-in Electron distribution (electron/packaging/pack.ts: Electron's zip layout,
// an "electron" that carries a fuse wire but cannot run; Electron's binary cannot be downloaded here).
// Then app.asar and app.asar.unpacked are read back (@electron/asar): entry points, native modules
// unpacked with their shared libraries, nothing that is a test, fixture, source or source map, only
// the target's binaries and locale, the fuses written into the binary, and the app part's size budget.
// The deb target runs too, up to fpm (not installed here): its fpm arguments, postinst and AppArmor profile.
// The afterPack hook's Electron-ABI check is exercised on its own (a stand-in has no Electron natives:
// the build here places this checkout's Node build of better-sqlite3 instead, and says so).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractFile, listPackage } from '@electron/asar';
import { getCurrentFuseWire } from '@electron/fuses';
import { ROOT, RUNTIME_PACKAGES, buildRenderer, bundleElectron } from '../../electron/build.ts';
import config, { COMMON_FILES, LANGUAGES } from '../../electron/electron-builder.config.ts';
import { INSTALL_ONLY, dependencyClosure } from '../../electron/packaging/dependencies.ts';
import { SQLITE_BINARY, addonAbi, installedElectron, placeNatives } from '../../electron/packaging/natives.ts';
import { APP_BUDGET_BYTES, formatSizes, packLinuxDir, packedSizes, writeStandInElectronDist } from '../../electron/packaging/pack.ts';

let tmp: string;
let appDir: string;
let resources: string;
let asarFiles: string[];
let unpackedFiles: string[];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
}

before(async () => {
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  tmp = await mkdtemp(join(ROOT, '.cache', 'package-dir-'));
  // What `npm run dist` packages: the bundles and the renderer, built now.
  const { warnings } = await bundleElectron();
  assert.deepEqual(warnings.map((w) => w.text), []);
  await buildRenderer({ logTo: 'stderr' });
  const electronDist = writeStandInElectronDist(join(tmp, 'electron-dist'));
  appDir = await packLinuxDir({
    electronDist,
    outDir: join(tmp, 'out'),
    logTo: 'stderr',
    // A stand-in has no Electron build of better-sqlite3: place the Node one, checking its (Node's) ABI.
    afterPack: async (ctx) => placeNatives(ctx.packager.getResourcesDir(ctx.appOutDir), ROOT, process.versions.modules),
  });
  resources = join(appDir, 'resources');
  asarFiles = listPackage(join(resources, 'app.asar'), { isPack: false }).map((f) => f.split('\\').join('/').replace(/^\//, ''));
  unpackedFiles = filesUnder(join(resources, 'app.asar.unpacked'));
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the packaged app (electron-builder dir target, stand-in Electron)', () => {
  it('has its entry points in app.asar, and package.json points at the main bundle', () => {
    for (const f of ['package.json', 'electron/dist/main.cjs', 'electron/dist/preload.cjs', 'electron/dist/worker.cjs', 'electron/dist/convert.cjs', 'renderer/dist/index.html', 'assets/tags/vocabulary.json', 'assets/icons/icon.png', 'assets/models/known-models.json']) {
      assert.ok(asarFiles.includes(f), `app.asar has ${f}`);
    }
    const pkg = JSON.parse(extractFile(join(resources, 'app.asar'), 'package.json').toString('utf8')) as { main: string; name: string };
    assert.equal(pkg.main, 'electron/dist/main.cjs');
    assert.ok(existsSync(join(appDir, 'photo-assistant')), 'the executable is photo-assistant');
    assert.ok(!existsSync(join(resources, 'default_app.asar')), "Electron's default app is not shipped");
  });

  it('unpacks the native modules with their shared libraries beside them', () => {
    const unpacked = (f: string): boolean => unpackedFiles.includes(f.replace(/^node_modules\//, 'node_modules/'));
    const ort = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64';
    for (const f of [`${ort}/onnxruntime_binding.node`, `${ort}/libonnxruntime.so.1`, SQLITE_BINARY.split('\\').join('/'), 'node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64-0.35.5.node']) {
      assert.ok(unpacked(f), `${f} is in app.asar.unpacked`);
    }
    assert.ok(unpackedFiles.some((f) => /^node_modules\/@img\/sharp-libvips-linux-x64\/lib\/libvips-cpp\.so\.[\d.]+$/.test(f)), 'libvips is unpacked');
    // Every binary is a real file outside the asar (the asar only lists it as unpacked).
    for (const f of asarFiles.filter((a) => /\.(node|so(\.[\d.]+)?)$/.test(a))) assert.ok(unpacked(f), `${f} is unpacked`);
    // The JavaScript that loads them sits with them (bindings looks up build/Release beside lib/).
    assert.ok(unpacked('node_modules/better-sqlite3/lib/index.js') && unpacked('node_modules/sharp/dist/index.cjs') && unpacked('node_modules/onnxruntime-node/dist/index.js'));
  });

  it('unpacks the HEIF/JPEG XL decode worker and the JPEG XL decoder it imports at run time', () => {
    assert.ok(unpackedFiles.includes('electron/dist/decode-worker.cjs'), 'a worker thread reads a real file');
    for (const f of ['node_modules/@jsquash/jxl/decode.js', 'node_modules/@jsquash/jxl/codec/dec/jxl_dec.wasm', 'node_modules/@jsquash/jxl/package.json']) {
      assert.ok(unpackedFiles.includes(f), `${f} is in app.asar.unpacked`);
    }
  });

  it('ships no tests, fixtures, sources, source maps, headers or build leftovers', () => {
    const all = [...asarFiles.filter((f) => !f.endsWith('/') && !asarFiles.some((o) => o.startsWith(`${f}/`))), ...unpackedFiles];
    const bad = all.filter((f) =>
      /\.(map|ts|mts|cts|tsx|svelte|c|cc|cpp|h|hpp|gyp|gypi|a|o|mk|md)$/.test(f)
      || /(^|\/)(test|tests|__tests__|fixtures?|src|deps|obj|obj\.target|include|docs?)\//.test(f)
      || /^(electron\/(main|packaging)|renderer\/src|src|test|models)\//.test(f)
      || /test_extension\.node$/.test(f));
    assert.deepEqual(bad, []);
  });

  it('keeps only Linux x64 binaries, no CUDA/TensorRT provider, and only the English locale', () => {
    const ortBins = unpackedFiles.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
    assert.ok(ortBins.length > 0);
    for (const f of ortBins) assert.match(f, /^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/x64\//);
    assert.deepEqual(unpackedFiles.filter((f) => /providers_(cuda|tensorrt)/.test(f)), []);
    const img = [...new Set(unpackedFiles.filter((f) => f.startsWith('node_modules/@img/')).map((f) => f.split('/')[2]))].sort();
    assert.deepEqual(img.filter((p) => p.startsWith('sharp-')), ['sharp-libvips-linux-x64', 'sharp-linux-x64']);
    assert.deepEqual(readdirSync(join(appDir, 'locales')), LANGUAGES.map((l) => `${l}.pak`));
    // The GPU build (PHOTO_ASSISTANT_GPU=1) is the only one that keeps the providers.
    assert.ok(COMMON_FILES.includes('!node_modules/onnxruntime-node/bin/**/libonnxruntime_providers_{cuda,tensorrt}*'));
  });

  it('packages from node_modules only what the bundles load at run time', () => {
    const packaged = new Set<string>();
    for (const f of [...asarFiles, ...unpackedFiles]) {
      const m = /^node_modules\/(@[^/]+\/[^/]+|[^@/][^/]*)(\/|$)/.exec(f);
      if (m) packaged.add(`node_modules/${m[1]}`);
    }
    const runtime = dependencyClosure(ROOT, ['onnxruntime-node', 'sharp', 'better-sqlite3', ...RUNTIME_PACKAGES], INSTALL_ONLY);
    assert.deepEqual([...packaged].filter((p) => !runtime.has(p)).sort(), [], 'nothing bundled by esbuild or install-only');
    for (const gone of ['node_modules/prebuild-install', 'node_modules/tsx', 'node_modules/zod', 'node_modules/onnx-proto', 'node_modules/protobufjs']) assert.ok(!packaged.has(gone), `${gone} is not packaged`);
  });

  it('writes the fuses into the executable', async () => {
    const wire = await getCurrentFuseWire(join(appDir, 'photo-assistant'));
    const on = 49;
    const off = 48;
    // FuseV1Options order: RunAsNode, EnableCookieEncryption, EnableNodeOptionsEnvironmentVariable,
    // EnableNodeCliInspectArguments, EnableEmbeddedAsarIntegrityValidation, OnlyLoadAppFromAsar,
    // LoadBrowserProcessSpecificV8Snapshot, GrantFileProtocolExtraPrivileges.
    const states = wire as unknown as Record<number, number>;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 7].map((i) => states[i]), [off, on, off, off, on, on, off]);
    assert.deepEqual(config.electronFuses, {
      runAsNode: false, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true, enableEmbeddedAsarIntegrityValidation: true, enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it(`keeps the app part within ${APP_BUDGET_BYTES / 1e6} MB (Electron excluded) and prints it`, (t) => {
    const sizes = packedSizes(appDir);
    for (const line of formatSizes(appDir, sizes).split('\n')) t.diagnostic(line);
    assert.ok(sizes.app <= APP_BUDGET_BYTES, `app part ${(sizes.app / 1e6).toFixed(1)} MB`);
    assert.ok(sizes.unpacked > 0 && sizes.asar > 0);
  });

  it("afterPack refuses a better-sqlite3 that is not built for Electron's ABI", () => {
    const { abi } = installedElectron();
    assert.equal(addonAbi(join(ROOT, SQLITE_BINARY)), process.versions.modules, "this checkout's better-sqlite3 is Node's");
    assert.equal(addonAbi(join(resources, 'app.asar.unpacked', 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')), 'napi');
    if (abi === process.versions.modules) return;
    assert.throws(() => placeNatives(resources, ROOT, abi), new RegExp(`built for ABI ${process.versions.modules}, Electron needs ${abi}`));
    assert.throws(() => placeNatives(resources, join(tmp, 'nothing-staged'), abi), /npm run dist/);
  });
});

describe("the deb target, run up to fpm (fpm is not installed here: electron-builder's effectiveOptionComputed hook stops there)", () => {
  let fpmArgs: string[] = [];
  let afterInstall = '';
  let debAppDir = '';

  before(async () => {
    const electronDist = writeStandInElectronDist(join(tmp, 'electron-dist-deb'));
    debAppDir = await packLinuxDir({
      electronDist,
      outDir: join(tmp, 'out-deb'),
      logTo: 'stderr',
      target: 'deb',
      afterPack: async (ctx) => placeNatives(ctx.packager.getResourcesDir(ctx.appOutDir), ROOT, process.versions.modules),
      // fpm's --url: package.json has no homepage yet (npm run dist refuses a deb without one).
      overrides: { extraMetadata: { ...config.extraMetadata, homepage: 'https://example.invalid/photo-assistant' } },
      effectiveOptionComputed: async (options) => {
        if (!Array.isArray(options) || !Array.isArray(options[0])) return false;
        fpmArgs = options[0] as string[];
        const script = fpmArgs[fpmArgs.indexOf('--after-install') + 1];
        afterInstall = readFileSync(script, 'utf8');
        return true;
      },
    });
  });

  it('names the package and its file without spaces', () => {
    const arg = (flag: string): string => fpmArgs[fpmArgs.indexOf(flag) + 1];
    assert.equal(arg('--name'), 'photo-assistant');
    assert.match(arg('--package'), /\/photo-assistant_0\.1\.0_amd64\.deb$/);
    assert.equal(arg('--architecture'), 'amd64');
    assert.ok(fpmArgs.some((a) => a.endsWith('=/opt/Photo Assistant')), 'installs the app folder in /opt');
  });

  it('puts the AppArmor profile into the package, rendered, and installs it from the postinst', () => {
    const profile = readFileSync(join(debAppDir, 'resources', 'apparmor-profile'), 'utf8');
    assert.match(profile, /^profile "photo-assistant" "\/opt\/Photo Assistant\/photo-assistant" flags=\(unconfined\) \{$/m);
    assert.match(profile, /^\s+userns,$/m);
    assert.match(afterInstall, /APPARMOR_PROFILE_SOURCE='\/opt\/Photo Assistant\/resources\/apparmor-profile'/);
    assert.match(afterInstall, /APPARMOR_PROFILE_TARGET='\/etc\/apparmor\.d\/photo-assistant'/);
    assert.match(afterInstall, /apparmor_parser --replace/);
    assert.doesNotMatch(afterInstall, /no-sandbox/);
  });
});

describe('the Linux installers (configuration; fpm, which builds the deb, is not installed here)', () => {
  it('make the deb the primary target, with the libraries Chromium loads and no space in file names', () => {
    assert.deepEqual(config.linux.target, ['deb', 'AppImage']);
    assert.equal(config.deb.packageName, 'photo-assistant');
    for (const dep of ['libgbm1', 'libasound2 | libasound2t64', 'libnss3', 'libgtk-3-0']) assert.ok(config.deb.depends.includes(dep), dep);
    for (const name of [config.artifactName, config.deb.artifactName, config.appImage.artifactName, config.nsis.artifactName]) {
      assert.doesNotMatch(name, /\s|\$\{productName\}/, name);
    }
    const json = JSON.stringify(config);
    assert.doesNotMatch(json, /no-sandbox/);
  });

  it("installs an AppArmor profile that gives the installed binary's sandbox its user namespace", () => {
    const template = readFileSync(join(ROOT, config.deb.appArmorProfile), 'utf8');
    // electron-builder's own substitution (FpmTarget: ${executable}, ${sanitizedProductName}).
    const rendered = template.replace(/\$\{([a-zA-Z]+)\}/g, (_m, k: string) => ({ executable: config.linux.executableName, sanitizedProductName: config.productName } as Record<string, string>)[k] ?? `<${k}?>`);
    assert.doesNotMatch(rendered, /<\w+\?>/);
    assert.match(rendered, /^abi <abi\/4\.0>,$/m);
    assert.match(rendered, /^profile "photo-assistant" "\/opt\/Photo Assistant\/photo-assistant" flags=\(unconfined\) \{$/m);
    assert.match(rendered, /^\s+userns,$/m);
  });

  it('ships the AppImage profile helper the README points to', () => {
    const script = join(ROOT, 'electron/packaging/linux/appimage-apparmor.sh');
    assert.ok(existsSync(script) && (statSync(script).mode & 0o111) !== 0, 'executable');
    const text = readFileSync(script, 'utf8');
    assert.match(text, /userns,/);
    assert.doesNotMatch(text, /no-sandbox|apparmor_restrict_unprivileged_userns=0/);
  });
});

describe('nothing in the app needs RunAsNode', () => {
  it('runs its workers as utility processes, never Electron as Node', () => {
    const sources = [...filesUnder(join(ROOT, 'electron')).map((f) => `electron/${f}`), ...filesUnder(join(ROOT, 'src')).map((f) => `src/${f}`)]
      .filter((f) => /\.(ts|mjs|cjs|js)$/.test(f) && !f.startsWith('electron/dist/'));
    for (const f of sources) assert.doesNotMatch(readFileSync(join(ROOT, f), 'utf8'), /ELECTRON_RUN_AS_NODE/, f);
    for (const f of sources.filter((s) => s.startsWith('electron/main/'))) {
      assert.doesNotMatch(readFileSync(join(ROOT, f), 'utf8'), /from 'node:child_process'/, `${f} starts no Node child`);
    }
    assert.match(readFileSync(join(ROOT, 'electron/main/utility-transport.ts'), 'utf8'), /utilityProcess\.fork/);
  });
});
