/**
 * Reading `nodetool describecluster` (src/lab/local-servers/cassandra-server.ts): the Cassandra trial group
 * creates its keyspaces again only once every node agrees on one schema version. The first text is a real
 * Cassandra 5.0.4 answer; the second has the layout nodetool prints for several versions (each entry followed
 * by a blank line) with a node down.
 */
import { describe, expect, it } from 'vitest';
import { schemaVersions } from '../../src/lab/local-servers/cassandra-server.ts';

const AGREED = `Cluster Information:
\tName: stillpoint-lab
\tSnitch: org.apache.cassandra.locator.SimpleSnitch
\tDynamicEndPointSnitch: disabled
\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner
\tSchema versions:
\t\td03783d7-b468-3c1a-82f1-8e30b2edde8b: [127.0.0.1, 127.0.0.2, 127.0.0.3]

Stats for all nodes:
\tLive: 3
`;

const SPLIT = `Cluster Information:
\tName: stillpoint-lab
\tSchema versions:
\t\td03783d7-b468-3c1a-82f1-8e30b2edde8b: [127.0.0.1, 127.0.0.2]

\t\t5a1c0e2e-0f3c-3b7e-9a55-2d1f7c0b9e11: [127.0.0.3]

\t\tUNREACHABLE: [127.0.0.4]

Stats for all nodes:
\tLive: 3
`;

describe('schemaVersions', () => {
  it('reads one version held by every node', () => {
    expect(schemaVersions(AGREED)).toEqual([{ version: 'd03783d7-b468-3c1a-82f1-8e30b2edde8b', nodes: 3 }]);
  });

  it('reads every version and the unreachable nodes, past the blank lines between them', () => {
    expect(schemaVersions(SPLIT)).toEqual([
      { version: 'd03783d7-b468-3c1a-82f1-8e30b2edde8b', nodes: 2 },
      { version: '5a1c0e2e-0f3c-3b7e-9a55-2d1f7c0b9e11', nodes: 1 },
      { version: 'UNREACHABLE', nodes: 1 },
    ]);
  });

  it('reads nothing from a text without the section', () => {
    expect(schemaVersions('Cluster Information:\n\tName: x\n')).toEqual([]);
  });
});
