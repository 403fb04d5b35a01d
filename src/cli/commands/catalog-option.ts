/**
 * Where the catalog is: `--catalog`, else STILLPOINT_CATALOG, else the `--plan`'s catalog.path, else
 * ./.stillpoint/catalog.db if it exists. Shared by backups, restore and demo.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openCatalog, type Catalog } from '../../catalog/catalog.ts';
import { ConfigError } from '../../errors.ts';
import { loadPlan } from '../../plan/load-plan.ts';

export interface CatalogFlags {
  catalog?: string;
  plan?: string;
}

export function openCatalogFrom(flags: CatalogFlags): Catalog {
  const path =
    flags.catalog ??
    process.env.STILLPOINT_CATALOG ??
    (flags.plan ? loadPlan(flags.plan).catalogPath : undefined);
  if (path !== undefined) return openCatalog(path);
  const fallback = resolve('.stillpoint', 'catalog.db');
  if (existsSync(fallback)) return openCatalog(fallback);
  throw new ConfigError('CATALOG_REQUIRED', 'No catalog given.', {
    hint: 'Pass --catalog <file> or --plan <plan.yaml>, or set STILLPOINT_CATALOG.',
  });
}
