// The layering rules of ARCHITECTURE.md, checked over the real files: the core (src/) never
// imports Electron, the shell or the renderer; the renderer reaches the core only through
// src/shared (the contract and its types); src/shared needs no Node; and in electron/ only the
// thin shell files import 'electron' (the rest is plain Node, tested without Electron, and the root
// tsconfig leaves exactly those shell files to electron/tsconfig.json). Inside the core, a dependency
// matrix fixes which folder may import which (no folder imports one that imports it back), and no
// SQL lives outside src/library/catalog.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The shell files allowed to import 'electron' (and only type-checked by electron/tsconfig.json). */
const ELECTRON_SHELL = [
  'electron/main/main.ts', 'electron/main/window.ts', 'electron/main/security.ts', 'electron/main/menu.ts',
  'electron/main/utility-transport.ts', 'electron/main/ipc-register.ts', 'electron/preload.ts', 'electron/worker-entry.ts',
  'electron/convert-entry.ts',
];

const CODE = /\.(ts|mts|cts|js|mjs|cjs|svelte)$/;

/**
 * The core's dependency matrix: which folders of src/ each folder may import (src/library's
 * subfolders count as their own units). Read top to bottom it is the layering of ARCHITECTURE.md:
 * shared → onnx → runtime / builder / hub → models → jobs → library (catalog → search, tagging, scan,
 * xmp → library → indexer) → cli.
 */
const MAY_IMPORT: Record<string, string[]> = {
  shared: [],
  onnx: ['shared'],
  hub: ['shared'],
  runtime: ['shared', 'onnx'],
  builder: ['shared', 'onnx'],
  models: ['shared', 'hub', 'builder', 'runtime'],
  jobs: ['shared', 'runtime', 'builder', 'hub', 'models'],
  'library/catalog': ['shared', 'onnx'],
  'library/xmp': ['shared'],
  'library/scan': ['shared', 'runtime'],
  'library/search': ['shared', 'onnx', 'runtime', 'library/catalog'],
  'library/tagging': ['shared', 'runtime', 'library/catalog', 'library/search'],
  library: ['shared', 'runtime', 'library/catalog', 'library/xmp', 'library/scan', 'library/search', 'library/tagging'],
  'library/indexer': ['shared', 'jobs', 'library', 'library/catalog', 'library/search', 'library/tagging', 'library/xmp'],
  cli: ['shared', 'onnx', 'hub', 'runtime', 'builder', 'models', 'jobs', 'library', 'library/catalog', 'library/xmp', 'library/scan',
    'library/search', 'library/tagging', 'library/indexer'],
};

/** The matrix unit of a file: its folder under src/, or under src/library. */
function unitOf(file: string): string {
  const parts = file.split('/');
  if (parts[1] === 'library') return parts.length > 3 ? `library/${parts[2]}` : 'library';
  return parts[1];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && CODE.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'))
    .filter((f) => !/\/(node_modules|dist)\//.test(f))
    .sort();
}

/** Every module specifier a file imports, re-exports, dynamically imports or requires. */
function importsOf(code: string): string[] {
  const stripped = code
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const p of patterns) for (const m of stripped.matchAll(p)) specs.push(m[1]);
  return [...new Set(specs)];
}

/** Repository-relative target of a relative specifier, or null for a package/builtin. */
function target(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return relative(ROOT, resolve(ROOT, dirname(file), spec)).split(sep).join('/');
}

const isElectron = (spec: string): boolean => spec === 'electron' || spec.startsWith('electron/');
const isNodeBuiltin = (spec: string): boolean => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]);

function violations(files: string[], bad: (file: string, spec: string) => string | null): string[] {
  const found: string[] = [];
  for (const file of files) {
    for (const spec of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
      const why = bad(file, spec);
      if (why) found.push(`${file}: '${spec}' (${why})`);
    }
  }
  return found;
}

describe('layering', () => {
  it('the import scanner sees every import form', () => {
    const sample = [
      "import { a } from 'electron';",
      'import type {\n  B,\n  C,\n} from "../x.ts";',
      "export * from './y.ts';",
      "import './side-effect.css';",
      "const m = await import('./lazy.ts');",
      "const r = require('node:fs');",
      "// import { z } from 'commented-out';",
      "/* import q from 'also-commented'; */",
    ].join('\n');
    assert.deepEqual(importsOf(sample).sort(), ['../x.ts', './lazy.ts', './side-effect.css', './y.ts', 'electron', 'node:fs']);
  });

  it('src/ never imports electron, the shell or the renderer', () => {
    const files = sourceFiles('src');
    assert.ok(files.length > 50, 'the core was scanned');
    assert.deepEqual(violations(files, (file, spec) => {
      if (isElectron(spec)) return 'Electron';
      const t = target(file, spec);
      if (t && (t.startsWith('electron/') || t.startsWith('renderer/'))) return 'outside the core';
      return null;
    }), []);
  });

  it('src/shared needs no Node (the renderer imports it)', () => {
    const files = sourceFiles('src/shared');
    assert.ok(files.includes('src/shared/ipc-contract.ts'));
    assert.deepEqual(violations(files, (file, spec) => {
      if (isNodeBuiltin(spec)) return 'a Node builtin';
      if (isElectron(spec)) return 'Electron';
      const t = target(file, spec);
      if (t && !t.startsWith('src/shared/')) return 'outside src/shared';
      return null;
    }), []);
  });

  it('the renderer reaches the core only through src/shared, and never Node or Electron', () => {
    const files = sourceFiles('renderer/src');
    assert.ok(files.some((f) => f.endsWith('.svelte')), 'the renderer was scanned');
    assert.deepEqual(violations(files, (file, spec) => {
      if (isElectron(spec)) return 'Electron';
      if (isNodeBuiltin(spec)) return 'a Node builtin';
      const t = target(file, spec);
      if (!t) return null;
      if (t.startsWith('src/') && !t.startsWith('src/shared/')) return 'the core outside src/shared';
      if (t.startsWith('electron/')) return 'the shell';
      return null;
    }), []);
  });

  it("only the shell files import 'electron'", () => {
    const files = sourceFiles('electron');
    assert.ok(files.includes('electron/main/main.ts'));
    assert.deepEqual(violations(files, (file, spec) => (isElectron(spec) && !ELECTRON_SHELL.includes(file) ? 'not a shell file' : null)), []);
    // Those files exist and really are the shell (a stale entry would hide a rule).
    for (const f of ELECTRON_SHELL) assert.ok(files.includes(f), `${f} exists`);
    const importing = files.filter((f) => importsOf(readFileSync(join(ROOT, f), 'utf8')).some(isElectron));
    assert.ok(importing.length >= 6, `${importing.join(', ')}`);
    // The utility-process entries use only process.parentPort (typed by electron's global augmentation).
    assert.ok(!importing.includes('electron/worker-entry.ts'));
    assert.ok(!importing.includes('electron/convert-entry.ts'));
  });

  it('every core folder imports only the folders below it (the dependency matrix), so none imports one that imports it back', () => {
    const files = sourceFiles('src');
    const seen = new Set<string>();
    const found = violations(files, (file, spec) => {
      const t = target(file, spec);
      if (!t || !t.startsWith('src/')) return null;
      const from = unitOf(file);
      const to = unitOf(t);
      if (from === to) return null;
      seen.add(`${from} -> ${to}`);
      if (!(from in MAY_IMPORT)) return `${from} is not in the dependency matrix`;
      return MAY_IMPORT[from].includes(to) ? null : `${from} may not import ${to}`;
    });
    assert.deepEqual(found, []);
    // The matrix is the real one: every allowed edge but a few is used, and it has no cycle.
    assert.ok(seen.size >= 30, [...seen].join(', '));
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (u: string, path: string[]): void => {
      if (done.has(u)) return;
      assert.ok(!visiting.has(u), `cycle: ${[...path, u].join(' -> ')}`);
      visiting.add(u);
      for (const v of MAY_IMPORT[u] ?? []) visit(v, [...path, u]);
      visiting.delete(u);
      done.add(u);
    };
    for (const u of Object.keys(MAY_IMPORT)) visit(u, []);
    // Every folder of src/ (and of src/library) is placed in the matrix.
    const units = new Set(files.map(unitOf));
    for (const u of units) assert.ok(u in MAY_IMPORT, `${u} is in the matrix`);
  });

  it('no SQL outside the catalog: only src/library/catalog opens SQLite or reaches its connection', () => {
    const files = [...sourceFiles('src'), ...sourceFiles('electron')];
    assert.deepEqual(violations(files, (file, spec) => {
      if (file.startsWith('src/library/catalog/')) return null;
      if (spec === 'better-sqlite3') return 'SQLite outside the catalog';
      const t = target(file, spec);
      if (t === 'src/library/catalog/connection.ts') return "the catalog's connection";
      return null;
    }), []);
    const code = files.filter((f) => !f.startsWith('src/library/catalog/')).map((f) => [f, readFileSync(join(ROOT, f), 'utf8')] as const);
    assert.deepEqual(code.filter(([, c]) => /catalog\.db|\.prepare\(\s*[`'"](SELECT|INSERT|UPDATE|DELETE)/i.test(c)).map(([f]) => f), []);
  });

  it('the root tsconfig leaves exactly the shell files to electron/tsconfig.json', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { exclude?: string[]; compilerOptions: { types?: string[] } };
    assert.deepEqual([...(root.exclude ?? [])].sort(), [...ELECTRON_SHELL].sort());
    assert.ok(!root.compilerOptions.types?.includes('electron'), 'the root project has no Electron types');
    const shell = JSON.parse(readFileSync(join(ROOT, 'electron/tsconfig.json'), 'utf8')) as { compilerOptions: { types: string[] } };
    assert.ok(shell.compilerOptions.types.includes('electron'));
  });
});
