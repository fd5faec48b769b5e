// electron-builder configuration, used by `npm run dist` (electron/packaging/dist.ts) and by the
// packaging test (test/electron/package-dir.test.ts, against a local Electron folder). Typed against
// electron-builder's own Configuration, so a misspelt key is a compile error (`npm run typecheck`).
//
// What ships: the four bundles (electron/dist/*.cjs, no source maps), the built renderer, assets/,
// and from node_modules only what the bundles load at run time: the three native modules with their
// runtime dependencies (electron/packaging/dependencies.ts). Everything else is bundled by esbuild
// (electron/build.ts) or needed only by an install script. The natives are unpacked from the asar
// (a .node binary and the shared libraries beside it must be real files); each package keeps only
// its own OS and architecture's binaries, and no CUDA/TensorRT providers unless PHOTO_ASSISTANT_GPU=1.
// better-sqlite3 is placed built for Electron's ABI by the afterPack hook (electron/packaging/natives.ts),
// so packaging never rebuilds anything in this checkout's node_modules.
import type { Configuration } from 'electron-builder';
import { BUNDLES, MAIN_EXTERNALS, ROOT, RUNTIME_PACKAGES } from './build.ts';
import { unneededPackages } from './packaging/dependencies.ts';
import { placeElectronNatives } from './packaging/natives.ts';

/** Native modules whose files must stay outside app.asar. */
export const NATIVE_MODULES = ['onnxruntime-node', 'sharp', '@img', 'better-sqlite3'] as const;

/** The interface is English only; Chromium needs one locale (dialogs, spellcheck, accessibility strings). */
export const LANGUAGES = ['en-US'] as const;

/** `PHOTO_ASSISTANT_GPU=1 npm run dist`: keep ONNX Runtime's CUDA/TensorRT providers, if installed. */
export const GPU_BUILD = process.env.PHOTO_ASSISTANT_GPU === '1';

type Os = 'linux' | 'win32' | 'darwin';

// Keeps onnxruntime-node's bin/napi-v<n>/<os>/<arch>/ and sharp's @img/sharp-<os>-<arch> and
// @img/sharp-libvips-<os>-<arch> for the target only. ${arch} is electron-builder's macro (x64,
// arm64…), the names ONNX Runtime and sharp use too; !(…) is minimatch's "anything but".
function onlyBinariesFor(os: Os): string[] {
  const others = (['linux', 'win32', 'darwin'] as const).filter((o) => o !== os);
  return [
    `!node_modules/onnxruntime-node/bin/napi-v*/{${others.join(',')}}/**`,
    `!node_modules/onnxruntime-node/bin/napi-v*/${os}/!(\${arch})/**`,
    // Brace patterns also catch linuxmusl and the libvips packages (sharp-libvips-linux-x64).
    `!node_modules/@img/sharp-*{${others.join(',')}}*/**`,
    `!node_modules/@img/sharp-{,libvips-}${os}-!(\${arch})/**`,
    // Electron itself needs glibc: sharp's musl builds never load.
    '!node_modules/@img/sharp-*musl*/**',
    '!node_modules/@img/sharp-wasm32/**',
  ];
}

/** What every platform packages; each platform adds its binary filter (onlyBinariesFor). */
export const COMMON_FILES = [
  'electron/dist/**/*',
  'renderer/dist/**/*',
  'assets/**/*',
  'package.json',
  // Bundled by esbuild, or only needed by a native module's install script.
  ...unneededPackages(ROOT, [...MAIN_EXTERNALS, ...RUNTIME_PACKAGES]).map((p) => `!${p}/**`),
  // Sources, headers, docs and build intermediates of the native modules (the compiled binaries stay).
  '!node_modules/better-sqlite3/{deps,src,docs,binding.gyp}',
  '!node_modules/better-sqlite3/{deps,src,docs}/**',
  '!node_modules/better-sqlite3/build/!(Release)',
  '!node_modules/better-sqlite3/build/!(Release)/**',
  '!node_modules/better-sqlite3/build/Release/!(better_sqlite3.node)',
  '!node_modules/better-sqlite3/build/Release/!(better_sqlite3.node)/**',
  '!node_modules/sharp/{src,install,lib}/**',
  '!node_modules/onnxruntime-node/{lib,script}/**',
  '!node_modules/**/*.{ts,mts,cts,md,map,h,hpp,cc,c,gyp,gypi}',
  '!node_modules/**/include/**',
  ...(GPU_BUILD ? [] : ['!node_modules/onnxruntime-node/bin/**/libonnxruntime_providers_{cuda,tensorrt}*']),
  '!**/*.map',
  '!assets/**/*.{md,svg}',
];

// electron-builder merges a platform's `files` as a file set of its own, so a platform list of only
// exclusions would add everything back ("**/*"): each platform gets the whole list.
const platformFiles = (os: Os): string[] => [...COMMON_FILES, ...onlyBinariesFor(os)];

const config = {
  appId: 'app.photoassistant.desktop',
  productName: 'Photo Assistant',
  copyright: 'Copyright © Photo Assistant contributors',
  // No buildResources folder of ours: electron-builder leaves that folder out of the app, and the
  // window needs assets/icons/icon.png at run time (icons are named per platform below).
  directories: { output: 'dist/installers' },
  // package.json has no "main" (the CLI is its entry); the packaged app starts the bundled main process.
  extraMetadata: { main: 'electron/dist/main.cjs' },
  asar: true,
  // Also unpacked: the decode worker thread's bundle and the JPEG XL decoder it imports at run time
  // (a worker thread and an ES module import read real files).
  asarUnpack: [...NATIVE_MODULES, ...RUNTIME_PACKAGES].map((m) => `node_modules/${m}/**`).concat(`electron/dist/${BUNDLES.decode.out}`),
  // Nothing in this checkout is rebuilt: afterPack puts an Electron build of better-sqlite3 into the
  // package instead (onnxruntime-node and sharp are Node-API: one binary for Node and Electron).
  npmRebuild: false,
  afterPack: placeElectronNatives,
  electronLanguages: [...LANGUAGES],
  // The switches Electron reads from its own binary (@electron/fuses, flipped by electron-builder).
  // The app never runs Electron as plain Node: its workers are utility processes (utility-transport.ts).
  electronFuses: {
    runAsNode: false,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    onlyLoadAppFromAsar: true,
    // Electron validates it on macOS and Windows (electron-builder embeds the hash there); a no-op on Linux.
    enableEmbeddedAsarIntegrityValidation: true,
    enableCookieEncryption: true,
    // The window is served from app://, never file://.
    grantFileProtocolExtraPrivileges: false,
  },
  // No spaces in file names: photo-assistant-0.1.0-x86_64.AppImage, photo-assistant_0.1.0_amd64.deb.
  artifactName: '${name}-${version}-${os}-${arch}.${ext}',
  linux: {
    target: ['deb', 'AppImage'],
    executableName: 'photo-assistant',
    category: 'Graphics',
    icon: 'assets/icons/icon.png',
    synopsis: 'On-device photo captions, tags, search and chat',
    // deb requires a maintainer; package.json has no author e-mail.
    maintainer: 'Photo Assistant contributors <photo-assistant@users.noreply.github.com>',
    files: platformFiles('linux'),
  },
  deb: {
    packageName: 'photo-assistant',
    artifactName: '${name}_${version}_${arch}.${ext}',
    priority: 'optional',
    // electron-builder's defaults plus what Chromium loads at start (GBM for the GPU process, ALSA).
    depends: [
      'libgtk-3-0', 'libnotify4', 'libnss3', 'libxss1', 'libxtst6', 'xdg-utils', 'libatspi2.0-0', 'libuuid1',
      'libsecret-1-0', 'libgbm1', 'libasound2 | libasound2t64',
    ],
    // Installed to /etc/apparmor.d by electron-builder's postinst (Ubuntu 24.04+: lets the sandbox
    // create its user namespace), removed by its postrm. Read it: electron/packaging/linux/apparmor-profile.
    appArmorProfile: 'electron/packaging/linux/apparmor-profile',
  },
  appImage: {
    artifactName: '${name}-${version}-${arch}.${ext}',
  },
  win: {
    target: ['nsis'],
    icon: 'assets/icons/icon.png',
    files: platformFiles('win32'),
  },
  nsis: {
    artifactName: '${name}-setup-${version}-${arch}.${ext}',
    oneClick: false,
    perMachine: false,
    allowToChangeInstallationDirectory: true,
  },
  mac: {
    target: ['dmg'],
    category: 'public.app-category.photography',
    icon: 'assets/icons/icon.png',
    hardenedRuntime: true,
    files: platformFiles('darwin'),
  },
  dmg: {
    title: '${productName} ${version}',
  },
} satisfies Configuration;

export default config;
