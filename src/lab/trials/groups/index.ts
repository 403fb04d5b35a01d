/** Every trial group kind, by name (the CLI's `--groups`). Adding a group: its module here, one line. */
import type { GroupKind } from '../faults.ts';
import type { TrialGroupKind } from '../group.ts';
import { cassandraGroup } from './cassandra.ts';
import { cosmosSqliteGroup } from './cosmos-sqlite.ts';
import { dynamodbPostgresGroup } from './dynamodb-postgres.ts';
import { managedGroup } from './managed.ts';
import { postgresMariadbGroup } from './postgres-mariadb.ts';
import { sqliteGroup } from './sqlite.ts';

export const TRIAL_GROUPS: Readonly<Record<GroupKind, TrialGroupKind>> = {
  sqlite: sqliteGroup,
  'postgres+mariadb': postgresMariadbGroup,
  'dynamodb+postgres': dynamodbPostgresGroup,
  managed: managedGroup,
  'cosmos+sqlite': cosmosSqliteGroup,
  cassandra: cassandraGroup,
};
