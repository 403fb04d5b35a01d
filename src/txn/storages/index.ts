/**
 * Opens a {@link Storage} from its config. The password comes from `password`, the environment variable
 * named by `passwordEnv`, or the file named by `passwordFile` (trailing newline dropped); it is never
 * logged or put into an error.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../errors.ts';
import type { Storage, StorageConfig } from '../contract.ts';
import { openMysqlStorage } from './mysql/mysql-storage.ts';
import { openPostgresStorage } from './postgres/postgres-storage.ts';
import { openSqliteStorage } from './sqlite/sqlite-storage.ts';

/** Connection deadline used for every server storage. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens and checks one storage. Throws TransactionError `STORAGE_UNREACHABLE`, `STORAGE_AUTH_FAILED` or
 * `STORAGE_DATABASE_MISSING` when the server cannot be used, ConfigError `TXN_PASSWORD_UNAVAILABLE` when
 * the password source is missing. Connecting gives up after 10 s.
 */
export async function createStorage(name: string, config: StorageConfig): Promise<Storage> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStorage(name, { path: config.path });
    case 'postgres': {
      const password = await resolvePassword(name, config);
      return openPostgresStorage(name, { ...config, connectTimeoutMs: CONNECT_TIMEOUT_MS, ...(password === undefined ? {} : { password }) });
    }
    case 'mysql': {
      const password = await resolvePassword(name, config);
      return openMysqlStorage(name, { ...config, connectTimeoutMs: CONNECT_TIMEOUT_MS, ...(password === undefined ? {} : { password }) });
    }
    default: {
      const kind = (config as { kind?: unknown }).kind;
      throw new ConfigError('TXN_STORAGE_KIND', `Storage ${name} has unknown kind ${String(kind)}.`, {
        hint: 'Use one of: sqlite, postgres, mysql.',
        context: { storage: name },
      });
    }
  }
}

/** The password of a server storage config, from the first source that is set. */
export async function resolvePassword(
  name: string,
  config: { readonly password?: string; readonly passwordEnv?: string; readonly passwordFile?: string },
): Promise<string | undefined> {
  if (config.password !== undefined) return config.password;
  if (config.passwordEnv !== undefined) {
    const value = process.env[config.passwordEnv];
    if (value === undefined) {
      throw new ConfigError('TXN_PASSWORD_UNAVAILABLE', `Storage ${name}: environment variable ${config.passwordEnv} is not set.`, {
        hint: `Export ${config.passwordEnv} with the database password, or use passwordFile.`,
        context: { storage: name },
      });
    }
    return value;
  }
  if (config.passwordFile !== undefined) {
    try {
      return (await readFile(config.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError('TXN_PASSWORD_UNAVAILABLE', `Storage ${name}: cannot read password file ${config.passwordFile}.`, {
        hint: 'Check the path and that this process may read it.',
        context: { storage: name },
        cause: error,
      });
    }
  }
  return undefined;
}
