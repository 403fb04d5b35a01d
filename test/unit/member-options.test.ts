import { describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../src/engines/contract.ts';
import { closest } from '../../src/did-you-mean.ts';
import { mariadbEngine } from '../../src/engines/mariadb/engine.ts';
import { postgresEngine } from '../../src/engines/postgres/engine.ts';
import { ConfigError } from '../../src/errors.ts';

const pg = (options: Record<string, unknown>): MemberSpec => ({
  name: 'bank_a',
  engine: 'postgres',
  connection: { kind: 'postgres', host: '127.0.0.1', port: 5432, user: 'u', database: 'd' },
  namespaces: ['bank_a'],
  options,
});

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('engine options, one parser for every engine', () => {
  it('an unknown option names the member and suggests the key meant', () => {
    const e = thrown(() => postgresEngine.parseOptions(pg({ methd: 'pitr' })));
    expect(e.code).toBe('ENGINE_OPTIONS_INVALID');
    expect(e.context).toMatchObject({ member: 'bank_a', engine: 'postgres' });
    expect(e.hint).toContain('"method"');
  });

  it('no suggestion when nothing is near (negative control of the did-you-mean)', () => {
    const e = thrown(() => postgresEngine.parseOptions(pg({ zzzzzzzz: 1 })));
    expect(e.hint).not.toContain('Did you mean');
    expect(closest('zzzzzzzz', ['method', 'jobs'])).toBeUndefined();
    expect(closest('jbos', ['method', 'jobs'])).toBe('jobs');
  });

  it('a connection of the wrong kind is ENGINE_CONNECTION_INVALID, for every engine the same way', () => {
    expect(thrown(() => mariadbEngine.parseOptions(pg({}))).code).toBe('ENGINE_CONNECTION_INVALID');
    expect(Object.isFrozen(postgresEngine.parseOptions(pg({ method: 'pitr' })))).toBe(true);
  });
});
