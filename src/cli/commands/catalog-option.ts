/**
 * Where the catalog is: `--catalog`, else STILLPOINT_CATALOG, else the `--plan`'s catalog.path, else
 * ./.stillpoint/catalog.db if it exists. Shared by backups, restore and demo.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Catalog } from '../../catalog/catalog.ts';
import { ConfigError } from '../../errors.ts';

export interface CatalogFlags {
  catalog?: string;
  plan?: string;
}

/** Async because the catalog (better-sqlite3) and the plan loader are imported only when a command runs. */
export async function openCatalogFrom(flags: CatalogFlags): Promise<Catalog> {
  const { openCatalog } = await import('../../catalog/catalog.ts');
  const path =
    flags.catalog ??
    process.env.STILLPOINT_CATALOG ??
    (flags.plan ? (await import('../../plan/load-plan.ts')).loadPlan(flags.plan).catalogPath : undefined);
  if (path !== undefined) return openCatalog(path);
  const fallback = resolve('.stillpoint', 'catalog.db');
  if (existsSync(fallback)) return openCatalog(fallback);
  throw new ConfigError('CATALOG_REQUIRED', 'No catalog given.', {
    hint: 'Pass --catalog <file> or --plan <plan.yaml>, or set STILLPOINT_CATALOG.',
  });
}
