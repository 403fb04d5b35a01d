/**
 * The Helm chart (deploy/helm/stillpoint) rendered with Helm's own template engine (Go text/template + sprig,
 * ./helm-render.ts) and checked: the objects and their wiring, numbers as integers, names within Kubernetes
 * limits, a persistent /data, the grace period, the plan in the ConfigMap is a valid plan. The Role is checked
 * against the API calls the code makes in ./rbac-calls.test.ts. The Dockerfile cannot be built here; its
 * essentials are checked as text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePlan } from '../../src/plan/load-plan.ts';
import { renderChart, renderChartText } from './helm-render.ts';

const CHART = 'deploy/helm/stillpoint';

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string; namespace: string } };

function render(values: Record<string, unknown> = {}, release = 'nightly'): Doc[] {
  return renderChart(CHART, { release, namespace: 'backups', values }) as Doc[];
}

type PodSpec = {
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  securityContext: { runAsNonRoot: boolean };
  containers: {
    args: string[];
    env: unknown[];
    volumeMounts: { name: string; mountPath: string }[];
    resources: unknown;
  }[];
  volumes: {
    name: string;
    configMap?: { name: string };
    persistentVolumeClaim?: { claimName: string };
    emptyDir?: unknown;
  }[];
};

function podSpecOf(docs: Doc[]): PodSpec {
  const cron = docs.find((d) => d.kind === 'CronJob') as unknown as {
    spec: { jobTemplate: { spec: { template: { spec: PodSpec } } } };
  };
  return cron.spec.jobTemplate.spec.template.spec;
}

describe('helm chart (rendered by Go text/template + sprig)', () => {
  it('renders a ServiceAccount, a Role and RoleBinding per target namespace, the plan ConfigMap, the PVC and the CronJob', () => {
    const docs = render({ rbac: { namespaces: ['ns-a', 'ns-b'] } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace}`).sort()).toEqual([
      'ConfigMap/backups',
      'CronJob/backups',
      'PersistentVolumeClaim/backups',
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
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'nightly-stillpoint', namespace: 'backups' },
    ]);
  });

  it('renders numbers as integers, never as floats (values.yaml numbers are float64 in Helm: 1000000 → 1e+06)', () => {
    const text = renderChartText(CHART, {
      release: 'nightly',
      namespace: 'backups',
      values: {
        activeDeadlineSeconds: 1_000_000,
        backoffLimit: 0,
        successfulJobsHistoryLimit: 10_000_000,
        terminationGracePeriodSeconds: 3_000_000,
      },
    })['stillpoint/templates/cronjob.yaml']!;
    expect(text).toContain('activeDeadlineSeconds: 1000000\n');
    expect(text).toContain('successfulJobsHistoryLimit: 10000000\n');
    expect(text).toContain('terminationGracePeriodSeconds: 3000000\n');
    expect(text).not.toMatch(/\de\+\d/);
  });

  it('names objects as the standard helpers do, within Kubernetes limits (63; a CronJob 52)', () => {
    const named = render({}, 'stillpoint-prod');
    expect(named.find((d) => d.kind === 'ServiceAccount')!.metadata.name).toBe('stillpoint-prod'); // contains the chart name
    const long = render({}, 'r'.repeat(70));
    for (const d of long)
      expect(d.metadata.name.length, `${d.kind} ${d.metadata.name}`).toBeLessThanOrEqual(
        d.kind === 'CronJob' ? 52 : 63,
      );
    expect(render({ fullnameOverride: 'sp' }).find((d) => d.kind === 'CronJob')!.metadata.name).toBe('sp');
  });

  it('keeps /data on a PersistentVolumeClaim: creates one by default, uses an existing one, and refuses an emptyDir', () => {
    const created = render();
    expect(podSpecOf(created).volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'nightly-stillpoint-data' },
    });
    const pvc = created.find((d) => d.kind === 'PersistentVolumeClaim') as unknown as {
      metadata: { annotations: Record<string, string> };
      spec: unknown;
    };
    expect(pvc.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '10Gi' } },
    });

    const existing = render({ persistence: { existingClaim: 'stillpoint-data' } });
    expect(existing.some((d) => d.kind === 'PersistentVolumeClaim')).toBe(false);
    expect(podSpecOf(existing).volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'stillpoint-data' },
    });
    expect(
      podSpecOf(existing)
        .volumes.filter((v) => v.emptyDir !== undefined)
        .map((v) => v.name),
    ).toEqual(['tmp']);

    expect(() => render({ persistence: { create: false } })).toThrow(
      /persistence\.existingClaim or persistence\.create=true/,
    );
  });

  it('gives the pod time after SIGTERM to unpause with retries and record the outcome', () => {
    expect(podSpecOf(render()).terminationGracePeriodSeconds).toBe(120);
    expect(() => render({ terminationGracePeriodSeconds: 30 })).toThrow(
      /terminationGracePeriodSeconds must be at least 60/,
    );
  });

  it('runs `stillpoint backup --plan` as non-root with the plan mounted and secrets as env', () => {
    const docs = render({ secretEnv: [{ name: 'PGPASSWORD', secretName: 'pg', key: 'password' }] });
    const cron = docs.find((d) => d.kind === 'CronJob') as unknown as {
      apiVersion: string;
      spec: { concurrencyPolicy: string };
    };
    expect(cron.apiVersion).toBe('batch/v1');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const pod = podSpecOf(docs);
    expect(pod.serviceAccountName).toBe('nightly-stillpoint');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const container = pod.containers[0]!;
    expect(container.args).toEqual(['backup', '--plan', '/etc/stillpoint/plan.yaml', '--json']);
    expect(container.env).toContainEqual({
      name: 'PGPASSWORD',
      valueFrom: { secretKeyRef: { name: 'pg', key: 'password' } },
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'plan',
      mountPath: '/etc/stillpoint',
      readOnly: true,
    });
    expect(container.resources).toEqual({
      requests: { cpu: '100m', memory: '256Mi' },
      limits: { memory: '1Gi' },
    });
    expect(pod.volumes).toContainEqual({ name: 'plan', configMap: { name: 'nightly-stillpoint-plan' } });
  });

  it('ships a default plan that is a valid plan with a kubernetes target', () => {
    const configMap = render().find((d) => d.kind === 'ConfigMap') as unknown as {
      data: Record<string, string>;
    };
    const plan = parsePlan(parse(configMap.data['plan.yaml']!), { baseDir: '/etc/stillpoint' });
    expect(plan.clusters[0]?.source).toEqual({
      kind: 'kubernetes',
      release: 'scalardb',
      namespace: 'ns-scalar',
      product: 'scalardb',
    });
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
