// better-sqlite3 for the package without touching this checkout's node_modules. It is a V8-ABI addon
// (one build per runtime), unlike onnxruntime-node and sharp (Node-API: the same binary loads in Node
// and Electron). `npm run dist` builds it for Electron in a copy under .cache/electron-natives/
// (@electron/rebuild: Electron's prebuilt binary through prebuild-install, else node-gyp; needs the
// network once per Electron version and architecture), and electron-builder's afterPack hook puts that
// binary into app.asar.unpacked, checking the ABI it was built for. The CLI and the tests keep
// running on the Node build in node_modules.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AfterPackContext } from 'electron-builder';
import { ROOT } from '../build.ts';

export const SQLITE_BINARY = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
const ELECTRON_PKG = join(ROOT, 'node_modules', 'electron');

export interface NativeTarget {
  electronVersion: string;
  platform: NodeJS.Platform;
  /** Electron's arch name: x64, arm64… */
  arch: string;
}

/** The installed electron package's version and NODE_MODULE_VERSION. */
export function installedElectron(): { version: string; abi: string } {
  const pkg = JSON.parse(readFileSync(join(ELECTRON_PKG, 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, abi: readFileSync(join(ELECTRON_PKG, 'abi_version'), 'utf8').trim() };
}

/**
 * The ABI an addon was built for, read from its registration symbol: 'napi' for a Node-API addon
 * (napi_register_module_v1), else the NODE_MODULE_VERSION (node_register_module_v<n>); null if neither.
 */
export function addonAbi(file: string): string | null {
  const text = readFileSync(file).toString('latin1');
  const v8 = /node_register_module_v(\d+)/.exec(text);
  if (v8) return v8[1];
  return text.includes('napi_register_module_v1') ? 'napi' : null;
}

/** Where `npm run dist` keeps the Electron build of the V8-ABI natives for one target. */
export function stagedNativesDir(target: NativeTarget): string {
  return join(ROOT, '.cache', 'electron-natives', `electron-v${target.electronVersion}-${target.platform}-${target.arch}`);
}

/** Builds better-sqlite3 for Electron in stagedNativesDir (cached: done once per target). */
export async function prepareElectronNatives(target: NativeTarget, log: (line: string) => void = () => {}): Promise<string> {
  const dir = stagedNativesDir(target);
  const built = join(dir, SQLITE_BINARY);
  const { abi } = installedElectron();
  if (existsSync(built) && addonAbi(built) === abi) {
    log(`better-sqlite3 for Electron ${target.electronVersion} (ABI ${abi}) ${target.platform}-${target.arch}: cached in ${dir}`);
    return dir;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  const source = join(ROOT, 'node_modules', 'better-sqlite3');
  // The sources and binding.gyp come along, the Node build does not.
  cpSync(source, join(dir, 'node_modules', 'better-sqlite3'), { recursive: true, filter: (p) => !p.includes(`${join('better-sqlite3', 'build')}`) });
  const version = (JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'electron-natives', private: true, dependencies: { 'better-sqlite3': version } }, null, 2));
  log(`building better-sqlite3 ${version} for Electron ${target.electronVersion} ${target.platform}-${target.arch} in ${dir}`);
  // Inside the checkout, so prebuild-install and node-gyp resolve from its node_modules.
  const { rebuild } = (await import('@electron/rebuild')) as typeof import('@electron/rebuild');
  await rebuild({ buildPath: dir, electronVersion: target.electronVersion, platform: target.platform, arch: target.arch, onlyModules: ['better-sqlite3'], force: true });
  const got = existsSync(built) ? addonAbi(built) : null;
  if (got !== abi) throw new Error(`better-sqlite3 was not built for Electron's ABI ${abi} (${existsSync(built) ? `found ${got}` : `${built} is missing`})`);
  return dir;
}

/** Copies the staged V8-ABI natives into a packaged app's resources and checks their ABI. */
export function placeNatives(resourcesDir: string, nativesDir: string, abi: string): void {
  const from = join(nativesDir, SQLITE_BINARY);
  if (!existsSync(from)) {
    throw new Error(`${from} is missing: \`npm run dist\` builds better-sqlite3 for Electron there before packaging`);
  }
  const to = join(resourcesDir, 'app.asar.unpacked', SQLITE_BINARY);
  if (!existsSync(to)) throw new Error(`${to} is missing: better-sqlite3 was not unpacked from the asar`);
  copyFileSync(from, to);
  const got = addonAbi(to);
  if (got !== abi) throw new Error(`the packaged better_sqlite3.node is built for ABI ${got}, Electron needs ${abi}`);
}

/** electron-builder's afterPack hook (electron-builder.config.ts). */
export async function placeElectronNatives(context: AfterPackContext): Promise<void> {
  const { Arch } = await import('electron-builder');
  const target: NativeTarget = {
    electronVersion: context.packager.config.electronVersion ?? installedElectron().version,
    platform: context.electronPlatformName as NodeJS.Platform,
    arch: Arch[context.arch],
  };
  const resources = context.packager.getResourcesDir(context.appOutDir);
  placeNatives(resources, stagedNativesDir(target), installedElectron().abi);
  // An unpacked electronDist keeps Electron's default app; ours is app.asar (OnlyLoadAppFromAsar).
  rmSync(join(resources, 'default_app.asar'), { force: true });
}
