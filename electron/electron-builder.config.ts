// electron-builder configuration (`npm run dist`, which needs the network: Electron's zip, the
// installer tools, Electron builds of better-sqlite3). Typed against electron-builder's own
// Configuration, so a misspelt key is a compile error (`npm run typecheck`).
//
// Native modules: onnxruntime-node, sharp (+ its @img/* binaries) and better-sqlite3 are unpacked
// from the asar (a .node binary and the shared libraries beside it must be real files), and each
// platform's package drops the other platforms' binaries. sharp installs only the host's @img
// packages, so build each installer on its own OS (or add the target's with npm --os/--cpu).
// better-sqlite3 is rebuilt for Electron's ABI by electron-builder (npmRebuild) before packaging.
import type { Configuration } from 'electron-builder';

/** Native modules whose files must stay outside app.asar. */
export const NATIVE_MODULES = ['onnxruntime-node', 'sharp', '@img', 'better-sqlite3'] as const;

type Os = 'linux' | 'win32' | 'darwin';

// Excludes the native binaries of every OS but `os`: onnxruntime-node's bin/napi-v<n>/<os>/ and
// sharp's @img/sharp-<os>-<arch> and @img/sharp-libvips-<os>-<arch> packages.
function onlyBinariesFor(os: Os): string[] {
  const others = (['linux', 'win32', 'darwin'] as const).filter((o) => o !== os);
  return [
    `!node_modules/onnxruntime-node/bin/napi-v*/{${others.join(',')}}/**`,
    // Brace patterns also catch linuxmusl and the libvips packages (sharp-libvips-linux-x64).
    `!node_modules/@img/sharp-*{${others.join(',')}}*/**`,
    '!node_modules/@img/sharp-wasm32/**',
  ];
}

const config = {
  appId: 'app.photoassistant.desktop',
  productName: 'Photo Assistant',
  copyright: 'Copyright © Photo Assistant contributors',
  // No buildResources folder of ours: electron-builder leaves that folder out of the app, and the
  // window needs assets/icons/icon.png at run time (icons are named per platform below).
  directories: { output: 'dist/installers' },
  // package.json has no "main" (the CLI is its entry); the packaged app starts the bundled main process.
  extraMetadata: { main: 'electron/dist/main.cjs' },
  files: [
    'electron/dist/**/*',
    'renderer/dist/**/*',
    'assets/**/*',
    'package.json',
    // Bundled or build-time only: tsx (and its esbuild binary) runs the CLI from source, not the app.
    '!node_modules/{tsx,esbuild,@esbuild,get-tsconfig,resolve-pkg-maps}/**',
    // Sources and build intermediates of the native modules (the compiled binaries stay).
    '!node_modules/better-sqlite3/{deps,src,docs}/**',
    '!node_modules/better-sqlite3/build/Release/{obj,obj.target,.deps}/**',
    '!node_modules/better-sqlite3/build/Release/{test_extension.node,*.a}',
    '!**/*.map',
  ],
  asar: true,
  asarUnpack: NATIVE_MODULES.map((m) => `node_modules/${m}/**`),
  npmRebuild: true,
  artifactName: '${productName}-${version}-${os}-${arch}.${ext}',
  linux: {
    target: ['AppImage', 'deb'],
    category: 'Graphics',
    icon: 'assets/icons/icon.png',
    synopsis: 'On-device photo captions, tags, search and chat',
    // deb requires a maintainer; package.json has no author e-mail.
    maintainer: 'Photo Assistant contributors <photo-assistant@users.noreply.github.com>',
    files: onlyBinariesFor('linux'),
  },
  deb: {
    // Electron's own runtime libraries are declared by electron-builder; nothing else is needed.
    priority: 'optional',
  },
  win: {
    target: ['nsis'],
    icon: 'assets/icons/icon.png',
    files: onlyBinariesFor('win32'),
  },
  nsis: {
    oneClick: false,
    perMachine: false,
    allowToChangeInstallationDirectory: true,
  },
  mac: {
    target: ['dmg'],
    category: 'public.app-category.photography',
    icon: 'assets/icons/icon.png',
    hardenedRuntime: true,
    files: onlyBinariesFor('darwin'),
  },
  dmg: {
    title: '${productName} ${version}',
  },
} satisfies Configuration;

export default config;
