import { describe, expect, it } from 'vitest';
import { resolveCredentials } from '../../src/engines/target-credentials.ts';
import { parseLogicalTarget as pgLogical, type LogicalTarget } from '../../src/engines/postgres/options.ts';
import { parseLogicalTarget as mariaLogical } from '../../src/engines/mariadb/options.ts';

describe('restore target credentials: one rule for every engine', () => {
  const member = { user: 'app', passwordEnv: 'APP_PW' };

  it("keeps the member's user and password source when the target names none", () => {
    expect(resolveCredentials(member, {})).toEqual({ user: 'app', passwordEnv: 'APP_PW' });
    expect(resolveCredentials(member, { user: 'restorer' })).toEqual({
      user: 'restorer',
      passwordEnv: 'APP_PW',
    });
  });

  it("replaces the member's password source as a whole when the target names its own", () => {
    // Never a target passwordFile combined with the member's passwordEnv.
    expect(resolveCredentials(member, { passwordFile: '/run/pw' })).toEqual({
      user: 'app',
      passwordFile: '/run/pw',
    });
    expect(resolveCredentials(member, { password: '' })).toEqual({ user: 'app', password: '' });
  });

  it('PostgreSQL and MariaDB targets follow it', () => {
    const defaults: LogicalTarget = { host: 'h', port: 5432, database: 'd', ...member };
    expect(pgLogical({ passwordFile: '/run/pw' }, defaults)).toEqual({
      host: 'h',
      port: 5432,
      database: 'd',
      user: 'app',
      passwordFile: '/run/pw',
    });
    const maria = mariaLogical(
      { passwordFile: '/run/pw' },
      { kind: 'mysql', host: 'h', port: 3306, ...member },
      'bk-1',
    );
    expect(maria.connection).toEqual({
      kind: 'mysql',
      host: 'h',
      port: 3306,
      user: 'app',
      passwordFile: '/run/pw',
    });
  });
});
