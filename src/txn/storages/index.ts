/** Opens a {@link Storage} from its config (the password through src/password.ts). */
import { resolvePassword } from '../../password.ts';
import { ConfigError } from '../../errors.ts';
import type { Storage, StorageConfig } from '../contract.ts';
import { openCosmosStorage } from './cosmos/cosmos-storage.ts';
import { openCassandraStorage } from './cassandra/cassandra-storage.ts';
import { openDynamoStorage } from './dynamodb/dynamodb-storage.ts';
import { openMysqlStorage } from './mysql/mysql-storage.ts';
import { openPostgresStorage } from './postgres/postgres-storage.ts';
import { openSqliteStorage } from './sqlite/sqlite-storage.ts';

/** Connection deadline used for every server storage. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** What a local DynamoDB endpoint (dynalite) is given: it checks that credentials exist, not what they are. */
const DUMMY_CREDENTIALS = { accessKeyId: 'stillpoint-local', secretAccessKey: 'stillpoint-local' };

/**
 * Opens and checks one storage. Throws TransactionError `STORAGE_UNREACHABLE`, `STORAGE_AUTH_FAILED` or
 * `STORAGE_DATABASE_MISSING` when the server cannot be used, ConfigError `PASSWORD_UNAVAILABLE` when
 * the password source is missing. Connecting gives up after 10 s.
 */
export async function createStorage(name: string, config: StorageConfig): Promise<Storage> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStorage(name, { path: config.path });
    case 'postgres': {
      const password = resolvePassword(config, `storage ${name}`);
      return openPostgresStorage(name, {
        ...config,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        ...(password === undefined ? {} : { password }),
      });
    }
    case 'mysql': {
      const password = resolvePassword(config, `storage ${name}`);
      return openMysqlStorage(name, {
        ...config,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        ...(password === undefined ? {} : { password }),
      });
    }
    case 'dynamodb':
      return openDynamoStorage(name, {
        region: config.region,
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        ...(config.prefix === undefined ? {} : { prefix: config.prefix }),
        ...(config.dummyCredentials === true ? { credentials: DUMMY_CREDENTIALS } : {}),
      });
    case 'cosmos': {
      const key = resolvePassword(config, `storage ${name}`);
      if (key === undefined) {
        throw new ConfigError('PASSWORD_UNAVAILABLE', `Storage ${name}: no Cosmos DB account key is given.`, {
          hint: 'Set password, passwordEnv or passwordFile to the account key.',
          context: { storage: name },
        });
      }
      return openCosmosStorage(name, {
        endpoint: config.endpoint,
        key,
        ...(config.caFile === undefined ? {} : { caFile: config.caFile }),
        ...(config.prefix === undefined ? {} : { prefix: config.prefix }),
        ...(config.mutations === undefined ? {} : { mutations: config.mutations }),
      });
    }
    case 'cassandra': {
      const password = resolvePassword(config, `storage ${name}`);
      return openCassandraStorage(name, {
        contactPoints: config.contactPoints,
        port: config.port ?? 9042,
        localDataCenter: config.localDataCenter,
        replicationFactor: config.replicationFactor ?? 3,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        ...(config.user === undefined ? {} : { user: config.user }),
        ...(password === undefined ? {} : { password }),
      });
    }
    default: {
      const kind = (config as { kind?: unknown }).kind;
      throw new ConfigError('TXN_STORAGE_KIND', `Storage ${name} has unknown kind ${String(kind)}.`, {
        hint: 'Use one of: sqlite, postgres, mysql, dynamodb, cosmos, cassandra.',
        context: { storage: name },
      });
    }
  }
}
