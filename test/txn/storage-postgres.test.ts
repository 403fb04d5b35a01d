import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { freePort } from '../../src/lab/local-servers/process.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { codeOf, storageContractSuite } from './storage-contract.ts';

let server: LocalPostgres;
beforeAll(async () => {
  server = await startLocalPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

storageContractSuite('postgres', async () => ({
  storage: await createStorage('pg', server.connection()),
  cleanup: () => Promise.resolve(),
}));

describe('postgres connection failures', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-pw-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const base = () => ({
    kind: 'postgres' as const,
    host: server.host,
    port: server.port,
    user: server.passwordUser.user,
    database: 'postgres',
  });

  it('accepts the password from password, passwordEnv and passwordFile', async () => {
    const file = join(dir, 'pw');
    await writeFile(file, `${server.passwordUser.password}\n`);
    process.env.STILLPOINT_TEST_PG_PW = server.passwordUser.password;
    for (const source of [
      { password: server.passwordUser.password },
      { passwordEnv: 'STILLPOINT_TEST_PG_PW' },
      { passwordFile: file },
    ]) {
      const storage = await createStorage('pg', { ...base(), ...source });
      expect(await storage.now()).toBeGreaterThan(0);
      await storage.close();
    }
    delete process.env.STILLPOINT_TEST_PG_PW;
  });

  it('reports a wrong password as STORAGE_AUTH_FAILED', async () => {
    expect(await codeOf(createStorage('pg', { ...base(), password: 'wrong' }))).toBe('STORAGE_AUTH_FAILED');
  });

  it('reports a missing database as STORAGE_DATABASE_MISSING', async () => {
    expect(await codeOf(createStorage('pg', { ...server.connection('no_such_db') }))).toBe(
      'STORAGE_DATABASE_MISSING',
    );
  });

  it('reports a port nobody listens on as STORAGE_UNREACHABLE', async () => {
    expect(await codeOf(createStorage('pg', { ...base(), port: await freePort(), password: 'x' }))).toBe(
      'STORAGE_UNREACHABLE',
    );
  });

  it('reports a server that went away mid-run as STORAGE_CONNECTION_LOST (retriable), and works again once it is back', async () => {
    const storage = await createStorage('pg', server.connection());
    try {
      await server.stop('immediate');
      expect(await codeOf(storage.now())).toBe('STORAGE_CONNECTION_LOST');
      await server.start();
      expect(await storage.now()).toBeGreaterThan(0);
    } finally {
      await storage.close();
    }
  });

  it('reports an unset password variable as PASSWORD_UNAVAILABLE', async () => {
    expect(await codeOf(createStorage('pg', { ...base(), passwordEnv: 'STILLPOINT_TEST_UNSET_VAR' }))).toBe(
      'PASSWORD_UNAVAILABLE',
    );
  });
});
