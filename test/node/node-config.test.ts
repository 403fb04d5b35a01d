import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeGroup, loadGroupConfig, parseGroupConfig } from '../../src/config/group-config.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadNodeConfig, parseNodeConfig } from '../../src/node/node-config.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-node-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const group = {
  storages: {
    a: { kind: 'sqlite', path: 'a.db' },
    pg: { kind: 'postgres', host: 'db', port: 5432, user: 'app', database: 'bank', passwordEnv: 'PGPW' },
  },
  namespaces: { bank_a: 'a', bank_b: 'pg', coordinator: 'a' },
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function asyncConfigError(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('group config', () => {
  it('resolves relative SQLite paths against the config file and describes the group without secrets', async () => {
    const file = join(dir, 'group.yaml');
    await writeFile(
      file,
      `storages:\n  a: { kind: sqlite, path: a.db }\n  pg: { kind: postgres, host: db, port: 5432, user: app, database: bank, password: hunter2 }\nnamespaces: { bank_a: a, bank_b: pg, coordinator: a }\n`,
    );
    const loaded = await loadGroupConfig(file);
    expect(loaded.storages.a).toEqual({ kind: 'sqlite', path: join(dir, 'a.db') });
    expect(describeGroup(loaded)).not.toContain('hunter2');
    expect(describeGroup(loaded)).toContain('bank_b→pg(postgres db:5432/bank)');
  });

  it('rejects unknown keys, undeclared storages, a missing coordinator and two password sources, naming the key', () => {
    expect(configError(() => parseGroupConfig({ ...group, extra: 1 })).context.key).toBe('(top level)');
    expect(
      configError(() =>
        parseGroupConfig({
          ...group,
          storages: { ...group.storages, a: { kind: 'sqlite', path: 'x', mode: 'wal' } },
        }),
      ).context.key,
    ).toBe('storages.a');
    expect(
      configError(() => parseGroupConfig({ ...group, namespaces: { ...group.namespaces, bank_b: 'nope' } }))
        .context.key,
    ).toBe('namespaces.bank_b');
    expect(configError(() => parseGroupConfig({ ...group, namespaces: { bank_a: 'a' } })).code).toBe(
      'CONFIG_INVALID',
    );
    const twoPasswords = {
      ...group,
      storages: { ...group.storages, pg: { ...group.storages.pg, password: 'x' } },
    };
    const error = configError(() => parseGroupConfig(twoPasswords));
    expect(error.context.key).toBe('storages.pg');
    expect(error.message).not.toContain('x"');
  });
});

describe('node config', () => {
  it('applies defaults: reject while paused, gate enabled', async () => {
    const config = await parseNodeConfig({ group, listen: { port: 0 } }, { baseDir: dir });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.gate).toEqual({ enabled: true, pausedBehaviour: { kind: 'reject' } });
    expect(config.group.storages.a).toEqual({ kind: 'sqlite', path: join(dir, 'a.db') });
  });

  it('reads coordinatorCleanup with its defaults (absent: no cleanup), and rejects unknown keys in it', async () => {
    expect((await parseNodeConfig({ group, listen: { port: 0 } }, { baseDir: dir })).coordinatorCleanup).toBe(
      undefined,
    );
    const config = await parseNodeConfig(
      { group, listen: { port: 0 }, coordinatorCleanup: { intervalMs: 500 } },
      { baseDir: dir },
    );
    expect(config.coordinatorCleanup).toEqual({ intervalMs: 500, olderThanMs: 60_000, limit: 1_000 });
    await expect(
      parseNodeConfig({ group, listen: { port: 0 }, coordinatorCleanup: { everyMs: 5 } }, { baseDir: dir }),
    ).rejects.toThrow(/coordinatorCleanup/);
  });

  it('reads hold mode, the admin token from the environment, and rejects unknown keys', async () => {
    process.env.STILLPOINT_TEST_TOKEN = 'tok';
    const config = await parseNodeConfig({
      group,
      listen: { port: 7000 },
      gate: { whilePaused: 'hold', maxHoldMs: 5000 },
      admin: { tokenEnv: 'STILLPOINT_TEST_TOKEN' },
    });
    expect(config.gate?.pausedBehaviour).toEqual({ kind: 'hold', maxQueued: 1000, maxHoldMs: 5000 });
    expect(config.admin?.token).toBe('tok');
    expect(
      (
        await asyncConfigError(
          parseNodeConfig({ group, listen: { port: 0 }, gate: { whilePaused: 'queue' } }),
        )
      ).context.key,
    ).toBe('gate.whilePaused');
    expect((await asyncConfigError(parseNodeConfig({ group, listen: { port: 0 }, lisen: 1 }))).code).toBe(
      'CONFIG_INVALID',
    );
    expect(
      (
        await asyncConfigError(
          parseNodeConfig({ group, listen: { port: 0 }, admin: { tokenEnv: 'STILLPOINT_UNSET_VAR' } }),
        )
      ).code,
    ).toBe('CONFIG_SECRET_MISSING');
  });

  it('reads the admin token from a file, bounds durations, and defaults insecure to false', async () => {
    await writeFile(join(dir, 'token'), 'file-token\n', { mode: 0o600 });
    const config = await parseNodeConfig(
      { group, listen: { port: 0 }, admin: { tokenFile: 'token' } },
      { baseDir: dir },
    );
    expect(config.admin?.token).toBe('file-token');
    expect(config.insecure).toBe(false);
    expect(
      (
        await asyncConfigError(
          parseNodeConfig(
            { group, listen: { port: 0 }, admin: { tokenFile: 'token', token: 'x' } },
            { baseDir: dir },
          ),
        )
      ).code,
    ).toBe('CONFIG_INVALID');
    expect(
      (await asyncConfigError(parseNodeConfig({ group, listen: { port: 0 }, expiryMs: 9e9 }))).code,
    ).toBe('CONFIG_INVALID');
  });

  it('fails with CONFIG_UNREADABLE / CONFIG_NOT_YAML for a bad file', async () => {
    expect((await asyncConfigError(loadNodeConfig(join(dir, 'missing.yaml')))).code).toBe(
      'CONFIG_UNREADABLE',
    );
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'group: [unclosed');
    expect((await asyncConfigError(loadNodeConfig(bad))).code).toBe('CONFIG_NOT_YAML');
  });
});
