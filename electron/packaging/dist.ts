// `npm run dist [-- --linux|--win|--mac] [--x64|--arm64] [other electron-builder flags]`, after `npm run build`:
//  1. needs Node 22.12+ (@electron/rebuild 4, which builds better-sqlite3 for Electron, requires it);
//  2. builds better-sqlite3 for Electron in .cache/electron-natives/ (once per Electron version and
//     target; network: Electron's headers or prebuilt binary) — this checkout's node_modules stay Node's;
//  3. runs electron-builder --config electron/electron-builder.config.ts with the flags given (with
//     node_modules/electron/dist as electronDist when Electron's binary is installed, else electron-builder
//     downloads Electron's zip); afterPack places the Electron build of better-sqlite3;
//  4. prints the size of each unpacked app folder and fails when the app part is over budget;
//  5. checks that better-sqlite3 in node_modules is not an Electron build (else `npm rebuild better-sqlite3`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../build.ts';
import config from '../electron-builder.config.ts';
import { SQLITE_BINARY, addonAbi, installedElectron, prepareElectronNatives } from './natives.ts';
import { APP_BUDGET_BYTES, formatSizes, packedSizes } from './pack.ts';

export const BUILDER_CONFIG = 'electron/electron-builder.config.ts';
export const MIN_NODE = [22, 12] as const;

function fail(message: string): never {
  process.stderr.write(`npm run dist: ${message}\n`);
  process.exit(1);
}

/** The OS and architecture electron-builder will build for, from its flags (default: this machine). */
export function targetFromArgs(args: readonly string[]): { platform: NodeJS.Platform; arch: string } {
  const platform = args.includes('--linux') || args.includes('-l') ? 'linux'
    : args.includes('--win') || args.includes('-w') ? 'win32'
      : args.includes('--mac') || args.includes('-m') ? 'darwin'
        : process.platform;
  const arch = args.includes('--arm64') ? 'arm64' : args.includes('--x64') ? 'x64' : process.arch;
  return { platform, arch };
}

/**
 * Whether this checkout's better-sqlite3 is an Electron build (left by `electron-builder install-app-deps`
 * or an older dist): the CLI and the tests need a Node one. (Not "this Node's": dist runs on Node 22,
 * the tests may run on Node 20.)
 */
function sqliteIsElectrons(): boolean {
  const binary = join(ROOT, SQLITE_BINARY);
  return existsSync(binary) && addonAbi(binary) === installedElectron().abi;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(`needs Node ${MIN_NODE.join('.')} or later (this is ${process.version}): @electron/rebuild, which builds better-sqlite3 for Electron, requires it. The app, the CLI and the tests run on Node 20.`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { homepage?: string };
  const { platform, arch } = targetFromArgs(args);
  const wantsDeb = platform === 'linux' && !args.includes('--dir') && !args.some((a) => /^(AppImage|dir)$/.test(a));
  if (wantsDeb && !pkg.homepage && !(config.extraMetadata as { homepage?: string }).homepage) {
    fail('the deb needs a homepage (its Homepage field): set "homepage" in package.json, or build `-- --linux AppImage` / `--dir`.');
  }
  const electron = installedElectron();
  try {
    await prepareElectronNatives({ electronVersion: electron.version, platform, arch }, (line) => process.stdout.write(`${line}\n`));

    const builderArgs = ['--config', BUILDER_CONFIG, '--publish', 'never', ...args];
    const localDist = join(ROOT, 'node_modules', 'electron', 'dist');
    if (platform === process.platform && arch === process.arch && existsSync(join(localDist, platform === 'win32' ? 'electron.exe' : platform === 'darwin' ? 'Electron.app' : 'electron'))) {
      builderArgs.push(`--config.electronDist=${localDist}`);
    }
    const bin = join(ROOT, 'node_modules', 'electron-builder', 'cli.js');
    process.stdout.write(`electron-builder ${builderArgs.join(' ')}\n`);
    const built = spawnSync(process.execPath, [bin, ...builderArgs], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) fail(`electron-builder failed (${built.signal ?? `exit code ${built.status}`})`);

    const out = join(ROOT, config.directories.output);
    let over = false;
    for (const dir of readdirSync(out).filter((d) => d.endsWith('-unpacked'))) {
      const sizes = packedSizes(join(out, dir));
      process.stdout.write(`${formatSizes(join(out, dir), sizes)}\n`);
      if (sizes.app > APP_BUDGET_BYTES) over = true;
    }
    if (over) fail(`the app part is over its ${APP_BUDGET_BYTES / 1e6} MB budget (see above)`);
  } finally {
    // Nothing here rebuilds node_modules, but an older dist (npmRebuild) or a manual
    // `electron-builder install-app-deps` may have left an Electron build behind.
    if (sqliteIsElectrons()) {
      process.stdout.write('better-sqlite3 in node_modules is built for Electron: npm rebuild better-sqlite3\n');
      spawnSync('npm', ['rebuild', 'better-sqlite3'], { cwd: ROOT, stdio: 'inherit' });
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
}
