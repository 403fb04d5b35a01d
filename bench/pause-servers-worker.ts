/**
 * Worker thread for bench/pause.ts: runs N admin servers on their own event loop (so their CPU does not sit on
 * the client's loop, as on separate machines), optionally each with a stream of in-flight transactions of
 * `txMs` that a pause must drain. Posts the addresses, then closes everything on any message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startAdminServer } from '../src/pause/admin-server.ts';
import type { Gate } from '../src/pause/contract.ts';
import { createGate } from '../src/pause/gate.ts';

const { count, txMs } = workerData as { count: number; txMs: number };
const quiet = (): void => undefined;
let running = true;

/** One transaction after another while the gate admits them; each holds its ticket for txMs. */
async function load(gate: Gate): Promise<void> {
  // Staggered start so the servers are at different points of their transactions when a pause arrives.
  await sleep(Math.random() * txMs);
  while (running) {
    try {
      const ticket = await gate.enter();
      await sleep(txMs);
      ticket.release();
    } catch {
      await sleep(1); // paused: retry shortly, like upstream clients
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const servers = await Promise.all(
  Array.from({ length: count }, async () => {
    const gate = createGate({ log: quiet });
    if (txMs > 0) void load(gate);
    return startAdminServer({ gate, log: quiet });
  }),
);
parentPort!.postMessage(servers.map((s) => s.address));
parentPort!.once('message', () => {
  running = false;
  void Promise.all(servers.map((s) => s.close())).then(() => parentPort!.close());
});
