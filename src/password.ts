/**
 * The password of a server connection, from the first source that is set: `password`, the environment
 * variable named by `passwordEnv`, or the file named by `passwordFile` (trailing newline dropped). Shared by
 * the transaction layer's storages and the backup engines; the value is never logged or put into an error.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.ts';

export interface PasswordSource {
  readonly password?: string;
  readonly passwordEnv?: string;
  readonly passwordFile?: string;
}

/** `owner` names what needs the password in errors (e.g. `storage pg`, `member bank_a`). */
export function resolvePassword(source: PasswordSource, owner: string): string | undefined {
  if (source.password !== undefined) return source.password;
  if (source.passwordEnv !== undefined) {
    const value = process.env[source.passwordEnv];
    if (value === undefined) {
      throw new ConfigError(
        'PASSWORD_UNAVAILABLE',
        `${owner}: environment variable ${source.passwordEnv} is not set.`,
        {
          hint: `Export ${source.passwordEnv} with the database password, or use passwordFile.`,
          context: { owner },
        },
      );
    }
    return value;
  }
  if (source.passwordFile !== undefined) {
    try {
      return readFileSync(source.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(
        'PASSWORD_UNAVAILABLE',
        `${owner}: cannot read password file ${source.passwordFile}.`,
        {
          hint: 'Check the path and that this process may read it.',
          context: { owner },
          cause: error,
        },
      );
    }
  }
  return undefined;
}
