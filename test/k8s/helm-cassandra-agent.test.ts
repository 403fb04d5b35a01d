/**
 * The Cassandra node agent in the Helm chart (values: cassandraAgent), rendered by Helm's own template engine
 * (./helm-render.ts): the sidecar container in a ConfigMap whose flags are exactly options of the real
 * `stillpoint agent` command, a ServiceAccount without an API token (the agent calls no Kubernetes API, so
 * no Role), and a NetworkPolicy that lets only the backup pods reach the agent's port while leaving every
 * other port of the Cassandra pods open.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { register } from '../../src/cli/commands/agent.ts';
import { renderChart } from './helm-render.ts';

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string; namespace: string } };
const render = (values: Record<string, unknown>): Doc[] =>
  renderChart('deploy/helm/stillpoint', { release: 'nightly', namespace: 'backups', values }) as Doc[];

describe('helm chart: Cassandra agent sidecar', () => {
  it('renders nothing for the agent unless enabled', () => {
    expect(render({}).filter((d) => d.metadata.name.includes('cassandra-agent'))).toEqual([]);
  });

  it('renders the sidecar, its ServiceAccount (no token, no Role) and the NetworkPolicy in the Cassandra namespace', () => {
    const docs = render({ cassandraAgent: { enabled: true, namespace: 'db', port: 7400 } });
    const mine = docs.filter((d) => d.metadata.name === 'nightly-stillpoint-cassandra-agent');
    expect(mine.map((d) => `${d.kind}/${d.metadata.namespace}`).sort()).toEqual([
      'ConfigMap/db',
      'NetworkPolicy/db',
      'ServiceAccount/db',
    ]);
    expect(docs.filter((d) => d.kind === 'Role' && d.metadata.namespace === 'db')).toEqual([]);
    const sa = mine.find((d) => d.kind === 'ServiceAccount')!;
    expect(sa.automountServiceAccountToken).toBe(false);

    const cm = mine.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const [container] = parse(cm.data['sidecar.yaml']!) as {
      name: string;
      args: string[];
      env: { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }[];
      ports: { containerPort: number }[];
      volumeMounts: { name: string; mountPath: string }[];
    }[];
    expect(container!.args[0]).toBe('agent');
    expect(container!.ports).toEqual([{ name: 'stillpoint-agent', containerPort: 7400 }]);
    expect(container!.env[0]!.valueFrom.secretKeyRef).toEqual({ name: 'stillpoint-agent', key: 'token' });
    expect(container!.volumeMounts.map((m) => m.name)).toEqual(['data', 'stillpoint-agent-tls']);
    // Every flag the chart passes is an option of the real command (a renamed flag fails here).
    const program = new Command();
    register(program);
    const known = new Set(program.commands[0]!.options.map((o) => o.long));
    const flags = container!.args.slice(1).map((a) => a.split('=')[0]);
    for (const f of flags) expect(known, f).toContain(f);
    expect(flags).toEqual(
      expect.arrayContaining(['--token-env', '--tls-cert', '--tls-key', '--commitlog-dir']),
    );
    const volumes = parse(cm.data['volumes.yaml']!) as { secret: { secretName: string } }[];
    expect(volumes[0]!.secret.secretName).toBe('stillpoint-agent-tls');

    const np = mine.find((d) => d.kind === 'NetworkPolicy') as unknown as {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        ingress: { ports: { port: number; endPort?: number; protocol: string }[]; from?: unknown[] }[];
      };
    };
    expect(np.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'cassandra' });
    const [open, agentOnly] = np.spec.ingress;
    expect(open!.from).toBeUndefined();
    expect(open!.ports).toEqual([
      { port: 1, endPort: 7399, protocol: 'TCP' },
      { port: 7401, endPort: 65535, protocol: 'TCP' },
      { port: 1, endPort: 65535, protocol: 'UDP' },
    ]);
    expect(agentOnly!.ports).toEqual([{ port: 7400, protocol: 'TCP' }]);
    expect(agentOnly!.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'backups' } },
        podSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'stillpoint', 'app.kubernetes.io/instance': 'nightly' },
        },
      },
    ]);
  });
});
