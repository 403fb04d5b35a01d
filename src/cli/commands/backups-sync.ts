/**
 * `stillpoint backups sync --store <url>`: rebuilds the local catalog (a cache) from the backup manifests in
 * an artifact store, so a new host with an empty disk can list, verify, restore and prune every backup.
 */
import type { Command } from 'commander';
import { action, emit } from '../output.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface SyncFlags extends CatalogFlags {
  store: string;
  json?: boolean;
}

export function registerSync(command: Command): void {
  command
    .summary('rebuild the catalog from the backup manifests in a store')
    .description(
      'Read every backup manifest (<backupId>/manifest.json) in the store and add the backups the catalog does not know, as complete. Backups already in the catalog are left as they are. Exit 1 when a manifest could not be read (the others are still imported).',
    )
    .requiredOption(
      '--store <url>',
      'the artifact store (s3://…, azblob://…, file:///…, or a path); encrypted manifests need STILLPOINT_KEK or STILLPOINT_KEK_FILE',
    )
    .action(
      action(async (flags: SyncFlags) => {
        const [{ syncFromStore }, { openArtifactStore }] = await Promise.all([
          import('../../catalog/manifest.ts'),
          import('../../artifacts/open-store.ts'),
        ]);
        const catalog = await openCatalogFrom(flags);
        try {
          const r = await syncFromStore(catalog, openArtifactStore(flags.store));
          emit(flags.json === true, r, () =>
            [
              `imported ${r.imported.length}, already known ${r.alreadyKnown.length}, unreadable ${r.failed.length}`,
              ...r.imported.map((id) => `  imported ${id}`),
              ...r.failed.map((f) => `  FAILED   ${f.key}: [${f.code}] ${f.message}`),
            ].join('\n'),
          );
          return r.failed.length === 0 ? 0 : 1;
        } finally {
          catalog.close();
        }
      }),
    );
}
