// Builds the Svelte 5 renderer (renderer/dist, loaded by Electron or the e2e harness) and runs its
// component tests (vitest + jsdom). The renderer talks to the app only through window.photoAssistant.
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs: the built page is loaded from a file or a custom protocol, not a web root.
  base: './',
  // Caches in the repo's node_modules, not a renderer/node_modules of its own.
  cacheDir: fileURLToPath(new URL('../node_modules/.vite/renderer', import.meta.url)),
  plugins: [svelte(), svelteTesting()],
  // Tests must get Svelte's browser build (mount, effects), not its server build.
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  server: { fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome130',
    sourcemap: true,
  },
  test: {
    root,
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
  },
});
