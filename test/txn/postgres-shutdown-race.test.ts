/**
 * A PostgreSQL server shutting down can send a new connection's ReadyForQuery and its FATAL 57P01 in one TCP
 * read. The pg parser then emits the client's 'error' in the same tick the pool hands the client out, before
 * an `await pool.connect()` caller resumes; with no listener yet, that error killed the node process (the
 * CI failure of the db-restart test). A minimal wire-protocol server sends exactly that pair.
 */
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresExecutor } from '../../src/txn/storages/postgres/postgres-storage.ts';

const message = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
const authOk = message('R', Buffer.from([0, 0, 0, 0]));
const readyForQuery = message('Z', Buffer.from('I'));
const fatalShutdown = message(
  'E',
  Buffer.from('SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0', 'latin1'),
);

let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer((socket) => {
    socket.once('data', () => {
      // The startup message: accept it, and shut the connection down in the same write.
      socket.end(Buffer.concat([authOk, readyForQuery, fatalShutdown]));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

it('a batch whose new connection is shut down as it is handed out fails; the process does not crash', async () => {
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'u', database: 'd', max: 2 });
  pool.on('error', () => {});
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => void uncaught.push(error);
  // vitest reports an uncaught exception as a failed run too; catching it here names it in the assertion.
  process.prependListener('uncaughtException', onUncaught);
  try {
    const executor = new PostgresExecutor(pool);
    const steps = [
      { sql: 'UPDATE a SET v = 1', params: [], mustAffect: false },
      { sql: 'UPDATE b SET v = 1', params: [], mustAffect: false },
    ];
    await expect(executor.runBatch(steps)).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(uncaught.map(String)).toEqual([]);
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    await pool.end().catch(() => {});
  }
});
