/**
 * PLACEHOLDER on branch wave-engines only: the MariaDB engine is ported to the session contract on branch
 * wave-mariadb, whose src/engines/mariadb/engine.ts replaces this file at merge (take theirs).
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind } from '../contract.ts';

const notPorted = (): never => {
  throw new ConfigError('ENGINE_UNKNOWN', 'The mariadb engine is not available on this branch.', { context: { engine: 'mariadb' } });
};

export const mariadbEngine: EngineKind<never> = {
  kind: 'mariadb',
  parseOptions: notPorted,
  capabilities: notPorted,
  openBackup: notPorted,
  openRestore: notPorted,
};
