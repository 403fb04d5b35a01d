/**
 * Turns a driver's failure to connect into a TransactionError a user can act on: wrong credentials
 * (STORAGE_AUTH_FAILED), a missing database (STORAGE_DATABASE_MISSING) or anything else on the way to the
 * server — refused, timed out, unknown host (STORAGE_UNREACHABLE).
 */
import { TransactionError } from '../../errors.ts';
import { errorCode } from './sql/sql-dialect.ts';

export interface ConnectionContext {
  readonly storage: string;
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database?: string;
}

// PostgreSQL 28P01 invalid_password / 28000 invalid authorization; MySQL 1045 access denied, 1044 db access denied.
const AUTH_CODES = new Set([
  '28P01',
  '28000',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  '1045',
  '1044',
]);
// PostgreSQL 3D000 invalid_catalog_name; MySQL 1049 unknown database.
const MISSING_DB_CODES = new Set(['3D000', 'ER_BAD_DB_ERROR', '1049']);

export function connectionError(error: unknown, context: ConnectionContext): TransactionError {
  const code = errorCode(error) ?? '';
  const where = `${context.kind} storage ${context.storage} at ${context.host}:${context.port}`;
  const message = error instanceof Error ? error.message : String(error);
  if (AUTH_CODES.has(code)) {
    return new TransactionError(
      'STORAGE_AUTH_FAILED',
      `The ${where} refused user ${context.user}: ${message}`,
      {
        hint: 'Check the user and the password (password, passwordEnv or passwordFile in the storage config).',
        context: { ...context },
        cause: error,
      },
    );
  }
  if (MISSING_DB_CODES.has(code)) {
    return new TransactionError(
      'STORAGE_DATABASE_MISSING',
      `The ${where} has no database ${context.database ?? ''}: ${message}`,
      {
        hint: 'Create the database first, or fix `database` in the storage config.',
        context: { ...context },
        cause: error,
      },
    );
  }
  return new TransactionError('STORAGE_UNREACHABLE', `Cannot reach the ${where}: ${message}`, {
    hint: 'Check that the server is running and that host and port are right and reachable from here.',
    context: { ...context },
    cause: error,
  });
}
