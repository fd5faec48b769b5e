// `npm start`: runs the desktop app from this checkout. It finds Electron's binary the way
// node_modules/electron does, but never downloads it (its index.js would try, on require), checks
// that better-sqlite3 is built for Electron rather than for Node, builds when the sources are newer
// than the bundles, then runs Electron on electron/dist/main.cjs. Plain .mjs: it must work without tsx.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ELECTRON_DIR = join(ROOT, 'node_modules', 'electron');
const MAIN_BUNDLE = join(ROOT, 'electron', 'dist', 'main.cjs');
const OUTPUTS = [MAIN_BUNDLE, join(ROOT, 'electron', 'dist', 'preload.cjs'), join(ROOT, 'electron', 'dist', 'worker.cjs'), join(ROOT, 'electron', 'dist', 'convert.cjs'), join(ROOT, 'renderer', 'dist', 'index.html')];
const SOURCES = ['src', 'electron', 'renderer'];

function fail(lines) {
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(1);
}

/** The binary's path as node_modules/electron/index.js computes it, or the reason there is none. */
function electronBinary() {
  if (!existsSync(join(ELECTRON_DIR, 'package.json'))) return { missing: 'the electron package is not installed (npm ci)' };
  const pathFile = join(ELECTRON_DIR, 'path.txt');
  const inDist = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) {
    const bin = join(override, inDist || 'electron');
    return existsSync(bin) ? { bin } : { missing: `ELECTRON_OVERRIDE_DIST_PATH has no ${bin}` };
  }
  if (!inDist) return { missing: 'node_modules/electron/path.txt is missing: the binary was never downloaded' };
  const bin = join(ELECTRON_DIR, 'dist', inDist);
  return existsSync(bin) ? { bin } : { missing: `${bin} does not exist` };
}

/** better-sqlite3 is a V8-ABI addon: a build that loads in this Node cannot load in Electron (unless the ABIs agree). */
function sqliteAbiProblem() {
  if (process.env.PHOTO_ASSISTANT_SKIP_ABI_CHECK === '1') return null;
  const electronAbi = readFileSync(join(ELECTRON_DIR, 'abi_version'), 'utf8').trim();
  if (electronAbi === process.versions.modules) return null;
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3');
    new Database(':memory:').close();
  } catch {
    // It does not load in Node: presumably it was rebuilt for Electron.
    return null;
  }
  return { node: process.versions.modules, electron: electronAbi };
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (/(^|[\\/])(dist|node_modules)[\\/]/.test(relative(ROOT, path))) continue;
    newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!OUTPUTS.every((f) => existsSync(f))) return true;
  const built = Math.min(...OUTPUTS.map((f) => statSync(f).mtimeMs));
  return SOURCES.some((d) => existsSync(join(ROOT, d)) && newestMtime(join(ROOT, d)) > built);
}

const found = electronBinary();
if (found.missing) {
  fail([
    `Electron's binary is not installed on this machine (${found.missing}), so the desktop app cannot start here.`,
    'On a machine with network access run `npx install-electron` (or `node node_modules/electron/install.js`), then `npm start` again.',
    'The CLI works without it: `npx photo-assistant --help` (convert, caption, ask, index, status, search, export; see README.md).',
  ]);
}

const abi = sqliteAbiProblem();
if (abi) {
  fail([
    `better-sqlite3 is compiled for Node (ABI ${abi.node}); Electron needs ABI ${abi.electron}, so the app could not open its catalog.`,
    'Rebuild it for Electron with `npx electron-builder install-app-deps` (needs the network for Electron\'s headers),',
    'and `npm rebuild better-sqlite3` to go back to Node for the CLI and the tests.',
    '(PHOTO_ASSISTANT_SKIP_ABI_CHECK=1 skips this check.)',
  ]);
}

if (needsBuild()) {
  const built = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'electron', 'build.ts')], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) fail(['npm start: the build failed (see above).']);
}

const child = spawn(found.bin, [MAIN_BUNDLE, ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit', windowsHide: false });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => fail([`could not run ${found.bin}: ${err.message}`]));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
