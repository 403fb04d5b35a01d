/**
 * The Cassandra restore's marker keyspace and table are created by one member at a time
 * (src/engines/cassandra/snapshot/restore.ts `oneAtATime`): in the issue-18 campaign, two members restored at
 * once on a fresh 3-node cluster created `stillpoint_restores.markers` concurrently, and one member's INSERT
 * then failed with "table markers does not exist".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { oneAtATime } from '../../../src/engines/cassandra/snapshot/restore.ts';

describe('oneAtATime', () => {
  it('starts a call only after the one before it ended, failed or not', async () => {
    const turns = { last: Promise.resolve() };
    const log: string[] = [];
    const call = (name: string, fail = false) =>
      oneAtATime(turns, async () => {
        log.push(`${name} start`);
        await sleep(20);
        log.push(`${name} end`);
        if (fail) throw new Error(`${name} failed`);
      });
    const results = await Promise.allSettled([call('a', true), call('b'), call('c')]);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });
});
