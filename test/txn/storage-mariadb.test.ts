import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { freePort } from '../../src/lab/local-servers/process.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { codeOf, storageContractSuite } from './storage-contract.ts';

let server: LocalMariaDb;
beforeAll(async () => {
  server = await startLocalMariaDb();
});
afterAll(async () => {
  await server?.destroy();
});

storageContractSuite('mariadb', async () => ({
  storage: await createStorage('maria', server.connection()),
  cleanup: () => Promise.resolve(),
}));

describe('mariadb connection failures', () => {
  const base = () => ({
    kind: 'mysql' as const,
    host: server.host,
    port: server.port,
    user: server.passwordUser.user,
  });

  it('accepts the right password', async () => {
    const storage = await createStorage('maria', { ...base(), password: server.passwordUser.password });
    expect(await storage.now()).toBeGreaterThan(0);
    await storage.close();
  });

  it('reports a wrong password as STORAGE_AUTH_FAILED', async () => {
    expect(await codeOf(createStorage('maria', { ...base(), password: 'wrong' }))).toBe(
      'STORAGE_AUTH_FAILED',
    );
  });

  it('reports a port nobody listens on as STORAGE_UNREACHABLE', async () => {
    expect(await codeOf(createStorage('maria', { ...base(), port: await freePort(), password: 'x' }))).toBe(
      'STORAGE_UNREACHABLE',
    );
  });
});
