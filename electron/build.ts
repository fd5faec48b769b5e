// `npm run build`: bundles the Electron main process, the preload and the utility-process entries of
// the inference worker and the model converter with esbuild (CommonJS, electron/dist/*.cjs), then
// the renderer with Vite (renderer/dist).
//
// Native modules stay external (onnxruntime-node, sharp, better-sqlite3 load .node binaries that the
// installer unpacks from the asar); everything else, ESM-only packages included, is bundled.
// The core is ESM and uses import.meta.url (transport.ts's WORKER_ENTRY, createRequire, asset
// lookups such as new URL('../../assets/…', import.meta.url)). CommonJS has no import.meta, so each
// module's import.meta.url is rewritten to the URL its source file has relative to the bundle:
// electron/dist/main.cjs sees src/jobs/transport.ts's import.meta.url as <root>/src/jobs/transport.ts.
// Relative lookups therefore land where they do in the source tree — assets/** is shipped with the
// app (`files` in electron/electron-builder.config.ts), so asset lookups work packaged too: the tag
// vocabulary resolves to <app.asar>/assets/tags/vocabulary.json, which fs reads inside the asar
// (test/electron/packaging.test.ts checks every such lookup is packaged).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, type Message, type Plugin, build } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_OUT_DIR = join(ROOT, 'electron', 'dist');
export const RENDERER_CONFIG = join(ROOT, 'renderer', 'vite.config.ts');
/** Where renderer/vite.config.ts writes the renderer (main.ts serves it on app://renderer/). */
export const RENDERER_OUT_DIR = join(ROOT, 'renderer', 'dist');

/** Loaded from node_modules at run time: native binaries, or Electron itself. */
export const MAIN_EXTERNALS = ['electron', 'onnxruntime-node', 'sharp', 'better-sqlite3'] as const;

export const BUNDLES = {
  main: { entry: 'electron/main/main.ts', out: 'main.cjs' },
  preload: { entry: 'electron/preload.ts', out: 'preload.cjs' },
  worker: { entry: 'electron/worker-entry.ts', out: 'worker.cjs' },
  convert: { entry: 'electron/convert-entry.ts', out: 'convert.cjs' },
  // The worker thread that decodes HEIF, JPEG XL and RAW sensor data off the main process (decode-pool.ts finds it
  // beside the bundle that starts it; unpacked from the asar, since a worker thread reads real files).
  decode: { entry: 'src/runtime/image/decode/decode-worker.ts', out: 'decode-worker.cjs' },
} as const;

/** Loaded at run time by a computed specifier (not bundled): shipped from node_modules as they are. */
export const RUNTIME_PACKAGES = ['@jsquash/jxl', 'libraw-wasm'] as const;
export type BundleName = keyof typeof BUNDLES;

const LOADERS: Record<string, 'ts' | 'js'> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js' };

// Defined once at the top of a bundle, where `require` is still CommonJS's own: a module may shadow
// it (graph-builder.ts has `const require = createRequire(import.meta.url)`).
const IMPORT_META_URL_FN = '__paImportMetaUrl';
const IMPORT_META_URL_BANNER =
  `var ${IMPORT_META_URL_FN} = (p) => require("node:url").pathToFileURL(require("node:path").join(__dirname, p)).href;`;

const OWN_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

/** Rewrites import.meta.url to the module's source location, computed from the bundle's __dirname. */
function importMetaUrlPlugin(outDir: string): Plugin {
  return {
    name: 'import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        const loader = LOADERS[extname(args.path)];
        if (!loader) return undefined;
        let text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        // `const require = createRequire(import.meta.url)` (graph-builder.ts loads onnx-proto so) would
        // hide those requires from esbuild: in CommonJS the module's own require is that require, so
        // the declaration goes and the packages it loads are bundled like any import.
        text = text.replace(OWN_REQUIRE, '');
        const fromBundle = relative(outDir, args.path).split(sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `${IMPORT_META_URL_FN}(${JSON.stringify(fromBundle)})`), loader };
      });
    },
  };
}

export interface BundleResult {
  outDir: string;
  /** The bundles written (every name unless `only` was given). */
  files: Partial<Record<BundleName, string>>;
  warnings: Message[];
}

/** The esbuild half of the build: the CommonJS bundles Electron loads (all of them unless `only`). */
export async function bundleElectron(options: { outDir?: string; only?: BundleName[] } = {}): Promise<BundleResult> {
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  const common: BuildOptions = {
    absWorkingDir: ROOT,
    bundle: true,
    format: 'cjs',
    sourcemap: true,
    logLevel: 'silent',
    legalComments: 'none',
    // The core's .ts import specifiers resolve as they do under tsx.
    resolveExtensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
  };
  const node: BuildOptions = {
    ...common,
    platform: 'node',
    // Electron 45 embeds a newer Node; node20 is what the repository itself runs on.
    target: 'node20',
    external: [...MAIN_EXTERNALS],
    plugins: [importMetaUrlPlugin(outDir)],
    banner: { js: IMPORT_META_URL_BANNER },
  };
  const perBundle: Record<BundleName, BuildOptions> = {
    main: node,
    worker: node,
    convert: node,
    decode: node,
    // A sandboxed preload may require only 'electron' (and a few browser-safe builtins): bundle for the browser.
    preload: {
      ...common,
      platform: 'browser',
      target: 'chrome130',
      external: ['electron'],
      // zod's schemas come with the contract; minified, the preload parses faster on each window load.
      minify: true,
    },
  };
  const names = options.only ?? (Object.keys(BUNDLES) as BundleName[]);
  const results = await Promise.all(names.map((name) => build({
    ...perBundle[name],
    entryPoints: [join(ROOT, BUNDLES[name].entry)],
    outfile: join(outDir, BUNDLES[name].out),
  })));
  const files: BundleResult['files'] = Object.fromEntries(names.map((name) => [name, join(outDir, BUNDLES[name].out)]));
  return { outDir, files, warnings: results.flatMap((r) => r.warnings) };
}

/**
 * The Vite half: renderer/dist. Skipped, saying so, when the renderer has no Vite config. Vite's
 * output goes to our stdout, or to stderr with `logTo: 'stderr'` (a node:test file must keep its
 * stdout to the test runner's protocol: a child writing there can split a message).
 */
export async function buildRenderer(options: { logTo?: 'stdout' | 'stderr' } = {}): Promise<'built' | 'skipped'> {
  if (!existsSync(RENDERER_CONFIG)) {
    (options.logTo === 'stderr' ? process.stderr : process.stdout).write(`renderer: ${relative(ROOT, RENDERER_CONFIG)} not found, renderer build skipped\n`);
    return 'skipped';
  }
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [vite, 'build', '--config', RENDERER_CONFIG], { cwd: ROOT, stdio: ['ignore', options.logTo === 'stderr' ? 2 : 1, 2] });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${signal ?? `exit code ${code}`})`))));
  });
  return 'built';
}

async function main(): Promise<void> {
  const started = Date.now();
  await rm(DEFAULT_OUT_DIR, { recursive: true, force: true });
  const { files, warnings } = await bundleElectron();
  for (const w of warnings) process.stderr.write(`esbuild warning: ${w.text}${w.location ? ` (${w.location.file}:${w.location.line})` : ''}\n`);
  for (const f of Object.values(files)) process.stdout.write(`bundled ${relative(ROOT, f)}\n`);
  await buildRenderer();
  process.stdout.write(`build finished in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
