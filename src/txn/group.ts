/**
 * A consistency group's storages, opened together from a {@link GroupConfig}: which namespace lives in
 * which storage, and every table the group holds (read back from the storages' catalogs, so this also
 * works on a restored set of databases).
 */
import { ConfigError } from '../errors.ts';
import type { GroupConfig, Storage, StorageGroup, TableSchema } from './contract.ts';
import { COORDINATOR_NAMESPACE, COORDINATOR_SCHEMA } from './schema.ts';
import { createStorage } from './storages/index.ts';

/**
 * Opens every storage of the config (in parallel; if one fails, the opened ones are closed and the first
 * error is thrown). Every namespace must map to a configured storage.
 */
export async function openGroup(config: GroupConfig): Promise<StorageGroup> {
  for (const [namespace, storageName] of Object.entries(config.namespaces)) {
    if (!(storageName in config.storages)) {
      throw new ConfigError(
        'TXN_NAMESPACE_UNMAPPED',
        `Namespace ${namespace} maps to storage ${storageName}, which is not configured.`,
        {
          hint: `Add a storage named ${storageName}, or map ${namespace} to one of: ${Object.keys(config.storages).join(', ')}.`,
          context: { namespace },
        },
      );
    }
  }
  const entries = Object.entries(config.storages);
  const results = await Promise.allSettled(
    entries.map(([name, storageConfig]) => createStorage(name, storageConfig)),
  );
  const storages = new Map<string, Storage>();
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') storages.set(entries[i]?.[0] ?? '', r.value);
  });
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled([...storages.values()].map((s) => s.close()));
    throw failed.reason;
  }
  try {
    applyRenames(config, storages);
  } catch (error) {
    await Promise.allSettled([...storages.values()].map((s) => s.close()));
    throw error;
  }
  return new Group(config, storages);
}

function applyRenames(config: GroupConfig, storages: ReadonlyMap<string, Storage>): void {
  for (const [name, names] of Object.entries(config.renames ?? {})) {
    const storage = storages.get(name);
    if (storage === undefined) {
      throw new ConfigError(
        'TXN_NAMESPACE_UNMAPPED',
        `renames names storage ${name}, which is not configured.`,
        {
          hint: `Rename namespaces of one of: ${Object.keys(config.storages).join(', ')}.`,
          context: { storage: name },
        },
      );
    }
    if (Object.keys(names).length === 0) continue;
    if (storage.usePhysicalNames === undefined) {
      throw new ConfigError(
        'TXN_RENAME_UNSUPPORTED',
        `Storage ${name} cannot serve namespaces under other physical names.`,
        {
          hint: 'Remove its entry under renames.',
          context: { storage: name },
        },
      );
    }
    storage.usePhysicalNames(names);
  }
}

class Group implements StorageGroup {
  private closed = false;

  constructor(
    private readonly config: GroupConfig,
    readonly storages: ReadonlyMap<string, Storage>,
  ) {}

  namespaces(): readonly string[] {
    return Object.keys(this.config.namespaces);
  }

  storageFor(namespace: string): Storage {
    const name = this.config.namespaces[namespace];
    const storage = name === undefined ? undefined : this.storages.get(name);
    if (storage === undefined) {
      throw new ConfigError(
        'TXN_NAMESPACE_UNMAPPED',
        `Namespace ${namespace} is not mapped to a storage in this group.`,
        {
          hint: `Add "${namespace}: <storage>" to the group's namespaces.`,
          context: { namespace },
        },
      );
    }
    return storage;
  }

  async tables(): Promise<TableSchema[]> {
    const lists = await Promise.all(
      Object.keys(this.config.namespaces).map((ns) => this.storageFor(ns).listTables(ns)),
    );
    return lists.flat();
  }

  createTable(schema: TableSchema): Promise<void> {
    return this.storageFor(schema.namespace).createTable(schema);
  }

  createCoordinatorTable(): Promise<void> {
    return this.storageFor(COORDINATOR_NAMESPACE).createTable(COORDINATOR_SCHEMA);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.storages.values()].map((s) => s.close()));
  }
}
