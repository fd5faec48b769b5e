// Packaging without the network: electron-builder's packaging step (the `dir` target: the unpacked
// app folder every installer is made from) against a local Electron distribution folder
// (`electronDist`), so nothing is downloaded. Used by `npm run dist` (with the real Electron) and by
// test/electron/package-dir.test.ts (with a stand-in of the same layout where Electron's binary is absent).
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Configuration } from 'electron-builder';
import { ROOT } from '../build.ts';
import config from '../electron-builder.config.ts';

/** @electron/fuses finds the fuse wire after this sentinel in Electron's binary. */
export const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Electron 45's shipped wire, fuse by fuse ('1' on, '0' off): RunAsNode, CookieEncryption, NODE_OPTIONS, inspect, asar integrity, only-asar, V8 snapshot, file:// privileges. */
export const ELECTRON_DEFAULT_FUSES = '10110001';

/**
 * A folder laid out like Electron's Linux zip (electron, chrome-sandbox, locales/*.pak, resources/,
 * LICENSE…; resources/ empty) whose "electron" is a shell script carrying a fuse wire, so electron-builder can copy,
 * rename and fuse it. It is not Electron: nothing built from it can start.
 */
export function writeStandInElectronDist(dir: string): string {
  mkdirSync(join(dir, 'locales'), { recursive: true });
  mkdirSync(join(dir, 'resources'), { recursive: true });
  const wire = Buffer.concat([Buffer.from(FUSE_SENTINEL, 'latin1'), Buffer.from([1, ELECTRON_DEFAULT_FUSES.length]), Buffer.from(ELECTRON_DEFAULT_FUSES, 'latin1')]);
  writeFileSync(join(dir, 'electron'), Buffer.concat([Buffer.from('#!/bin/sh\necho "stand-in Electron: not runnable" >&2\nexit 1\n# '), wire, Buffer.from('\n')]));
  chmodSync(join(dir, 'electron'), 0o755);
  writeFileSync(join(dir, 'chrome-sandbox'), '');
  for (const f of ['chrome_crashpad_handler', 'libffmpeg.so', 'libEGL.so', 'libGLESv2.so', 'libvk_swiftshader.so', 'icudtl.dat', 'resources.pak', 'chrome_100_percent.pak', 'chrome_200_percent.pak', 'snapshot_blob.bin', 'v8_context_snapshot.bin', 'vk_swiftshader_icd.json', 'LICENSES.chromium.html']) {
    writeFileSync(join(dir, f), '');
  }
  writeFileSync(join(dir, 'LICENSE'), 'Copyright (c) Electron contributors (stand-in)\n');
  writeFileSync(join(dir, 'version'), '45.5.0');
  for (const l of ['am', 'de', 'en-GB', 'en-US', 'fr', 'ja', 'zh-CN']) writeFileSync(join(dir, 'locales', `${l}.pak`), '');
  return dir;
}

export interface PackOptions {
  /** A local Electron distribution: an unpacked folder or its zip. */
  electronDist: string;
  outDir: string;
  arch?: 'x64' | 'arm64';
  /** electron-builder's Linux target: 'dir' (default), or 'deb' (needs fpm, unless effectiveOptionComputed stops before it). */
  target?: 'dir' | 'deb';
  /** Replaces the config's afterPack (the test places a Node build of better-sqlite3 itself). */
  afterPack?: Configuration['afterPack'];
  /** Merged over the config (e.g. extraMetadata for a test). */
  overrides?: Partial<Configuration>;
  /** electron-builder's hook with a target's computed options (the deb's fpm arguments); true skips the tool. */
  effectiveOptionComputed?: (options: unknown) => Promise<boolean>;
  /** Where electron-builder logs: stdout (default), or stderr (a node:test file's stdout is the runner's). */
  logTo?: 'stdout' | 'stderr';
}

/**
 * The config with its platform sections copied: electron-builder normalizes `files` in place, which
 * would change the imported config for the next build in the same process.
 */
export function freshConfig(): typeof config {
  return {
    ...config,
    linux: { ...config.linux, files: [...config.linux.files] },
    win: { ...config.win, files: [...config.win.files] },
    mac: { ...config.mac, files: [...config.mac.files] },
  };
}

/** Runs electron-builder for Linux; returns the unpacked app folder (…/linux-unpacked) every target is made from. */
export async function packLinuxDir(options: PackOptions): Promise<string> {
  const { Arch, Platform, build, log } = await import('electron-builder');
  const arch = options.arch ?? 'x64';
  const base = freshConfig();
  const logger = log as unknown as { stream: NodeJS.WritableStream };
  const stream = logger.stream;
  if (options.logTo === 'stderr') logger.stream = process.stderr;
  await build({
    projectDir: ROOT,
    targets: Platform.LINUX.createTarget(options.target ?? 'dir', Arch[arch]),
    publish: 'never',
    effectiveOptionComputed: options.effectiveOptionComputed,
    config: {
      ...base,
      ...options.overrides,
      electronDist: options.electronDist,
      directories: { ...base.directories, output: options.outDir },
      ...(options.afterPack !== undefined ? { afterPack: options.afterPack } : {}),
    },
  }).finally(() => {
    logger.stream = stream;
  });
  const unpacked = join(options.outDir, arch === 'x64' ? 'linux-unpacked' : `linux-${arch}-unpacked`);
  if (!existsSync(unpacked)) throw new Error(`electron-builder wrote no ${unpacked}`);
  return unpacked;
}

function sizeOf(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, e) => sum + sizeOf(join(path, e)), 0);
}

export interface PackedSizes {
  /** resources/: app.asar + app.asar.unpacked (+ anything else we ship there). */
  app: number;
  asar: number;
  unpacked: number;
  /** Everything else: Electron, Chromium, their locales. */
  electron: number;
  /** The unpacked native modules, largest first. */
  natives: { path: string; bytes: number }[];
}

/** Sizes of an unpacked app folder (linux-unpacked), the app part apart from Electron itself. */
export function packedSizes(appDir: string): PackedSizes {
  const resources = join(appDir, 'resources');
  const total = sizeOf(appDir);
  const app = sizeOf(resources);
  const unpackedDir = join(resources, 'app.asar.unpacked');
  const nm = join(unpackedDir, 'node_modules');
  const natives: PackedSizes['natives'] = [];
  if (existsSync(nm)) {
    for (const name of readdirSync(nm)) {
      const dirs = name.startsWith('@') ? readdirSync(join(nm, name)).map((n) => join(name, n)) : [name];
      for (const d of dirs) natives.push({ path: `node_modules/${d.split('\\').join('/')}`, bytes: sizeOf(join(nm, d)) });
    }
  }
  natives.sort((a, b) => b.bytes - a.bytes);
  return {
    app,
    asar: existsSync(join(resources, 'app.asar')) ? sizeOf(join(resources, 'app.asar')) : 0,
    unpacked: existsSync(unpackedDir) ? sizeOf(unpackedDir) : 0,
    electron: total - app,
    natives,
  };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** The size report `npm run dist` prints (and the packaging test logs). */
export function formatSizes(appDir: string, s: PackedSizes): string {
  return [
    `packed ${relative(ROOT, appDir) || appDir}:`,
    `  app ${mb(s.app)} (app.asar ${mb(s.asar)}, app.asar.unpacked ${mb(s.unpacked)}); Electron ${mb(s.electron)}`,
    ...s.natives.map((n) => `    ${n.path} ${mb(n.bytes)}`),
  ].join('\n');
}

/** The app part's budget, Electron excluded (checked by the packaging test and by `npm run dist`). */
export const APP_BUDGET_BYTES = 120e6;
