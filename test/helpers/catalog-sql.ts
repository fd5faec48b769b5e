// Raw SQL over a test's catalog, for assertions on stored rows and pragmas. The app itself never
// does this: outside src/library/catalog only the Catalog's methods are used (layering test).
import type { Catalog } from '../../src/library/catalog/catalog.ts';
import { type Db, ctxOf } from '../../src/library/catalog/connection.ts';

export function sqlOf(catalog: Catalog): Db {
  return ctxOf(catalog).db;
}
