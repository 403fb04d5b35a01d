/**
 * The misbehaving admin endpoint of the admin-error / admin-silent faults, in front of a real admin server
 * over a real gate: what the pause client sees for each behaviour, and that the node's gate is left open
 * once the client's rollback (forwarded Unpause) is done.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type RunningAdminServer } from '../../src/pause/admin-server.ts';
import { createGate } from '../../src/pause/gate.ts';
import type { Gate } from '../../src/pause/contract.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { asStillpointError } from '../../src/errors.ts';
import {
  startFaultyAdmin,
  type FaultyAdmin,
  type FaultyAdminBehaviour,
} from '../../src/lab/trials/faulty-admin.ts';

describe('faulty admin endpoint', () => {
  let gate: Gate;
  let server: RunningAdminServer;
  let faulty: FaultyAdmin | undefined;

  afterEach(async () => {
    await faulty?.close();
    await server.close();
  });

  async function setUp(behaviour: FaultyAdminBehaviour): Promise<{ pause: () => Promise<string> }> {
    gate = createGate({ log: () => undefined });
    server = await startAdminServer({ gate, log: () => undefined });
    faulty = await startFaultyAdmin(server.address, behaviour);
    const target = { host: '127.0.0.1', port: faulty.port, label: `127.0.0.1:${faulty.port}` };
    const client = createPauseClient({ callDeadlineMs: 1_500 });
    return {
      async pause() {
        try {
          const group = await client.pauseAll([target], { leaseMs: 5_000 });
          await group.unpause();
          return 'paused';
        } catch (error) {
          return asStillpointError(error).code;
        } finally {
          client.close();
        }
      },
    };
  }

  it.each<[FaultyAdminBehaviour, number]>([
    ['error', 0],
    ['paused-then-error', 1],
    ['silent', 0],
    ['paused-then-silent', 1],
  ])(
    '%s: Pause fails at the client, the node paused %i time(s), and the rollback left it open',
    async (behaviour, forwarded) => {
      const { pause } = await setUp(behaviour);
      expect(await pause()).toBe('PAUSE_FAILED');
      expect(faulty?.pauseCalls()).toBeGreaterThanOrEqual(1);
      expect(faulty?.forwardedPauses()).toBe(forwarded);
      expect(gate.paused).toBe(false);
    },
  );

  it('forwards CheckPaused and Unpause to the node', async () => {
    await setUp('error');
    await gate.pause({ waitOutstanding: true, maxWaitMs: 1_000 });
    const client = createPauseClient({ callDeadlineMs: 1_500 });
    try {
      const target = { host: '127.0.0.1', port: faulty!.port, label: `127.0.0.1:${faulty!.port}` };
      expect((await client.checkPausedAll([target]))[0]?.paused).toBe(true);
      expect((await client.unpauseAll([target])).ok).toBe(true);
      expect(gate.paused).toBe(false);
    } finally {
      client.close();
    }
  });
});
