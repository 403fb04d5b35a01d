/**
 * Issue 13 item 3 (the pause half): stillpoint's pause client against a REAL ScalarDB Server — the last
 * standalone release Maven Central serves (scalardb-server 3.13.6; its own 3.13.6 core and rpc jars are not
 * served, so interop/server/pom.xml runs it on scalardb 3.13.1 + scalardb-rpc 3.13.0) — on JDBC storage over
 * a SQLite file. A ScalarDB 3.13 gRPC client holds a transaction open across the pause: the pause waits for
 * it (the drain), new transactions are refused while paused, and everything resumes after Unpause.
 * What the server's admin service does differently from a `stillpoint node`: no lease (the
 * `stillpoint-lease-ms` metadata is ignored) and no `Stats` call — which is how the backup tells it apart and
 * warns (src/orchestrator/pause-phase.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../src/lab/local-servers/process.ts';
import { probeLeaseSupport } from '../../src/orchestrator/pause-phase.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { parseAddress } from '../../src/pause/targets.ts';
import type { PauseClient, Target } from '../../src/pause/contract.ts';
import { serverSkipReason, startServerJava, VERSIONS, type DriverProcess } from './harness.ts';

const skip = await serverSkipReason();
if (skip !== undefined) console.warn(`ScalarDB Server interop skipped: ${skip}`);

const CLIENT = 'stillpoint.interop.server.ServerClient';
let dir = '';
let port = 0;
let target: Target;
let server: DriverProcess | undefined;
let client: PauseClient;

/** One client op run to its end; its JSON lines. */
async function clientOp(op: string): Promise<Record<string, unknown>[]> {
  const run = await startServerJava(CLIENT, [String(port), op]).done();
  if (run.code !== 0) throw new Error(`ServerClient ${op} exited ${run.code}: ${run.stderr.slice(-2000)}`);
  return run.lines;
}

async function paused(): Promise<boolean | undefined> {
  return (await client.checkPausedAll([target]))[0]?.paused;
}

describe.skipIf(skip !== undefined)(
  `stillpoint pauses a real ScalarDB Server ${VERSIONS.scalardbServer}${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-server-'));
      port = await freePort();
      target = parseAddress(`127.0.0.1:${port}`);
      const props = join(dir, 'server.properties');
      await writeFile(
        props,
        [
          'scalar.db.storage=jdbc',
          `scalar.db.contact_points=jdbc:sqlite:${join(dir, 'bank.db')}`,
          'scalar.db.username=',
          'scalar.db.password=',
          `scalar.db.server.port=${port}`,
          'scalar.db.server.prometheus_exporter_port=-1',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      server = startServerJava('com.scalar.db.server.ScalarDbServer', ['--config', props]);
      client = createPauseClient({ callDeadlineMs: 120_000 });
      // Up when its admin service answers CheckPaused (the server serves it on its data port).
      await waitFor(
        async () => (await client.checkPausedAll([target]))[0]?.ok === true,
        120_000,
        `ScalarDB Server on port ${port}`,
      );
      expect(await paused()).toBe(false);
      expect(await clientOp('setup:4:100')).toContainEqual({ op: 'setup', ok: true });
    }, 240_000);

    afterAll(async () => {
      client?.close();
      server?.kill();
      await server?.done();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('a pause waits for the in-flight transaction, refuses new ones while paused, and Unpause resumes; totals hold', async () => {
      const held = startServerJava(CLIENT, [String(port), 'hold:0:1:5']);
      await held.next((l) => typeof l.held === 'string', 120_000);
      let settled = false;
      const pausing = client.pauseAll([target], { maxPauseWaitMs: 120_000 });
      void pausing.then(
        () => (settled = true),
        () => (settled = true),
      );
      // The gate is closed at once; the Pause call itself waits for the held transaction to drain.
      await expect.poll(paused, { timeout: 60_000 }).toBe(true);
      const refused = await clientOp('transfer:2:3:7');
      expect(refused[0]).toMatchObject({ rejected: true });
      // The 3.13 gRPC client retries the server's UNAVAILABLE ten times, then gives up with this message.
      expect(String(refused[0]?.error)).toMatch(/retry exhausted|UNAVAILABLE/i);
      expect(settled).toBe(false);
      held.send('commit');
      await held.next((l) => typeof l.committed === 'string', 120_000);
      const group = await pausing;
      expect(group.statuses.map((s) => s.ok)).toEqual([true]);
      expect((await group.checkPaused()).allPaused).toBe(true);
      const unpaused = await group.unpause();
      expect(unpaused.ok).toBe(true);
      expect(await paused()).toBe(false);
      expect((await clientOp('transfer:2:3:7'))[0]).toMatchObject({ committed: expect.any(String) });
      expect(await clientOp('total')).toEqual([{ total: 400, accounts: 4 }]);
    }, 300_000);

    it('a drain that times out: the pause fails all-or-nothing and the server is left unpaused; the held transaction still commits', async () => {
      const held = startServerJava(CLIENT, [String(port), 'hold:1:2:3']);
      await held.next((l) => typeof l.held === 'string', 120_000);
      const error = await client.pauseAll([target], { maxPauseWaitMs: 1_000 }).then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      expect(error?.code).toBe('PAUSE_FAILED');
      expect(await paused()).toBe(false);
      held.send('commit');
      await held.next((l) => typeof l.committed === 'string', 120_000);
      expect(await clientOp('total')).toEqual([{ total: 400, accounts: 4 }]);
    }, 300_000);

    it('no lease and no Stats on its admin service: the probe says so (a stillpoint node answers Stats)', async () => {
      const probe = await probeLeaseSupport(client, [target]);
      expect(probe).toEqual([{ target: target.label, lease: false }]);
    }, 120_000);
  },
);
