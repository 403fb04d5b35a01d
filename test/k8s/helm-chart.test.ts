/**
 * The Helm chart (deploy/helm/stillpoint) rendered with test/k8s/mini-helm.ts (no Helm renderer exists on npm)
 * and checked: the objects and their wiring, the plan in the ConfigMap is a valid plan, and the RBAC is
 * least-privilege with the scale permission present ONLY when restore hooks are enabled. The Dockerfile
 * cannot be built here; its essentials are checked as text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePlan } from '../../src/plan/load-plan.ts';
import { renderChart, renderTemplate } from './mini-helm.ts';

const CHART = 'deploy/helm/stillpoint';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string; namespace: string } };

function render(values: Record<string, unknown> = {}): Doc[] {
  return renderChart(CHART, { release: 'nightly', namespace: 'backups', values }) as Doc[];
}

const READ = new Set(['get', 'list', 'watch']);
const ALLOWED_READ = new Set(['pods', 'services', 'endpoints', 'deployments', 'statefulsets']);
const ALLOWED_SCALE = new Set(['deployments/scale', 'statefulsets/scale']);

/** Problems with a Role's rules; empty when least-privilege (reads of the objects used, plus scale patch if allowed). */
function privilegeProblems(rules: Rule[], scaleAllowed: boolean): string[] {
  const problems: string[] = [];
  for (const rule of rules) {
    for (const r of rule.resources) {
      const isScale = ALLOWED_SCALE.has(r);
      if (r.includes('*') || rule.verbs.includes('*') || rule.apiGroups.includes('*')) problems.push(`wildcard in ${r}`);
      else if (isScale && (!scaleAllowed || rule.verbs.some((v) => v !== 'patch'))) problems.push(`${r}: ${rule.verbs.join(',')}`);
      else if (!isScale && (!ALLOWED_READ.has(r) || rule.verbs.some((v) => !READ.has(v)))) problems.push(`${r}: ${rule.verbs.join(',')}`);
    }
  }
  return problems;
}

describe('helm chart', () => {
  it('renders a ServiceAccount, a Role and RoleBinding per target namespace, the plan ConfigMap and the CronJob', () => {
    const docs = render({ rbac: { namespaces: ['ns-a', 'ns-b'] } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace}`).sort()).toEqual([
      'ConfigMap/backups',
      'CronJob/backups',
      'Role/ns-a',
      'Role/ns-b',
      'RoleBinding/ns-a',
      'RoleBinding/ns-b',
      'ServiceAccount/backups',
    ]);
    const binding = docs.find((d) => d.kind === 'RoleBinding')! as unknown as {
      roleRef: { name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    expect(binding.roleRef.name).toBe('nightly-stillpoint');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'nightly-stillpoint', namespace: 'backups' }]);
  });

  it('grants read-only access by default and scale patch only with restore hooks enabled', () => {
    const rulesOf = (docs: Doc[]): Rule[] => (docs.find((d) => d.kind === 'Role') as unknown as { rules: Rule[] }).rules;
    const plain = rulesOf(render());
    expect(privilegeProblems(plain, false)).toEqual([]);
    expect(plain.flatMap((r) => r.resources)).not.toContain('deployments/scale');

    const withHooks = rulesOf(render({ restoreHooks: { enabled: true } }));
    expect(privilegeProblems(withHooks, true)).toEqual([]);
    expect(withHooks).toContainEqual({ apiGroups: ['apps'], resources: ['deployments/scale', 'statefulsets/scale'], verbs: ['patch'] });
    // Negative control: the same rules are flagged when scaling is not allowed, and so is a wildcard.
    expect(privilegeProblems(withHooks, false)).not.toEqual([]);
    expect(privilegeProblems([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }], true)).not.toEqual([]);
    expect(privilegeProblems([{ apiGroups: ['apps'], resources: ['*'], verbs: ['get'] }], true)).not.toEqual([]);
  });

  it('runs `stillpoint backup --plan` as non-root with the plan mounted and secrets as env', () => {
    const docs = render({
      secretEnv: [{ name: 'PGPASSWORD', secretName: 'pg', key: 'password' }],
      persistence: { existingClaim: 'stillpoint-data' },
    });
    const cron = docs.find((d) => d.kind === 'CronJob') as unknown as {
      apiVersion: string;
      spec: { schedule: string; concurrencyPolicy: string; jobTemplate: { spec: { template: { spec: Record<string, unknown> } } } };
    };
    expect(cron.apiVersion).toBe('batch/v1');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const pod = cron.spec.jobTemplate.spec.template.spec as {
      serviceAccountName: string;
      securityContext: { runAsNonRoot: boolean };
      containers: { args: string[]; env: unknown[]; volumeMounts: { name: string; mountPath: string }[]; resources: unknown }[];
      volumes: { name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
    };
    expect(pod.serviceAccountName).toBe('nightly-stillpoint');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const container = pod.containers[0]!;
    expect(container.args).toEqual(['backup', '--plan', '/etc/stillpoint/plan.yaml', '--json']);
    expect(container.env).toContainEqual({ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'pg', key: 'password' } } });
    expect(container.volumeMounts).toContainEqual({ name: 'plan', mountPath: '/etc/stillpoint', readOnly: true });
    expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    expect(pod.volumes).toContainEqual({ name: 'plan', configMap: { name: 'nightly-stillpoint-plan' } });
    expect(pod.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'stillpoint-data' } });
  });

  it('ships a default plan that is a valid plan with a kubernetes target', () => {
    const configMap = render().find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const plan = parsePlan(parse(configMap.data['plan.yaml']!), { baseDir: '/etc/stillpoint' });
    expect(plan.clusters[0]?.source).toEqual({ kind: 'kubernetes', release: 'scalardb', namespace: 'ns-scalar', product: 'scalardb' });
  });

  it('the renderer refuses what it does not implement (so the chart cannot outgrow the checks silently)', () => {
    expect(() => renderTemplate('{{ include "x" . }}', {})).toThrow(/unsupported/);
    expect(() => renderTemplate('{{ .Values.a | upper }}', { Values: { a: 'x' } })).toThrow(/unsupported/);
    expect(() => renderTemplate('{{ if .Values.a }}x', { Values: { a: true } })).toThrow(/missing/);
    expect(renderTemplate('a\n{{- if .V }}\nb{{- else }}\nc{{- end }}\n', { V: false })).toBe('a\nc\n');
  });
});

describe('Dockerfile', () => {
  const text = readFileSync('deploy/Dockerfile', 'utf8');
  it('builds on node:20-slim with a native build stage, installs the dump clients and runs as non-root', () => {
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/^node:20-slim AS build/);
    expect(stages[0]).toMatch(/python3 make g\+\+/);
    expect(stages[0]).toContain('npm ci');
    expect(stages[0]).toContain('npm prune --omit=dev');
    expect(stages[1]).toMatch(/^node:20-slim\n/);
    expect(stages[1]).toMatch(/postgresql-client mariadb-client/);
    expect(stages[1]).not.toMatch(/g\+\+/);
    expect(stages[1]).toMatch(/^USER 1000:1000$/m);
  });
});
