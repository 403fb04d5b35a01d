/**
 * Discovery without Helm labels (operators, hand-written manifests): the pods of a Deployment/StatefulSet named
 * by the user (by its `spec.selector.matchLabels`), or of a pod label selector (their workload: the one the
 * selector also matches, else the one whose own selector picks them), and an admin port given as a number or
 * a container port name. Used by ./release.ts `readRelease`.
 */
import { PauseError } from '../errors.ts';
import type { K8sApi, PodInfo, WorkloadInfo, WorkloadKind } from './k8s-api.ts';

// A workload by name; its pods by its selector's matchLabels.
export async function byWorkload(
  api: K8sApi,
  namespace: string,
  ref: { kind: WorkloadKind; name: string },
  signal?: AbortSignal,
): Promise<{ pods: PodInfo[]; workload: WorkloadInfo; selector: string }> {
  const workload = await api.getWorkload(namespace, ref.kind, ref.name, signal);
  const selector = labelsToSelector(workload.selector);
  if (selector === '') {
    throw new PauseError(
      'K8S_WORKLOAD_AMBIGUOUS',
      `${ref.kind} ${ref.name} has no spec.selector.matchLabels to find its pods by.`,
      {
        context: { cluster: ref.name, namespace },
        hint: 'Use --selector k=v with the labels of its pods instead.',
      },
    );
  }
  return { pods: await api.listPods(namespace, selector, signal), workload, selector };
}

// Pods by selector; their workload: the one the selector also matches, else the one whose own selector picks them.
export async function bySelector(
  api: K8sApi,
  namespace: string,
  selector: string,
  signal?: AbortSignal,
): Promise<{ pods: PodInfo[]; workload: WorkloadInfo; selector: string }> {
  const [pods, labelled] = await Promise.all([
    api.listPods(namespace, selector, signal),
    api.listWorkloads(namespace, selector, signal),
  ]);
  let workloads = labelled;
  if (workloads.length === 0 && pods.length > 0) {
    const all = await api.listWorkloads(namespace, '', signal);
    workloads = all.filter(
      (w) => Object.keys(w.selector).length > 0 && pods.every((p) => matches(w.selector, p.labels)),
    );
  }
  if (workloads.length !== 1 && pods.length > 0) {
    throw new PauseError(
      'K8S_WORKLOAD_AMBIGUOUS',
      `Expected one Deployment or StatefulSet for the pods of selector "${selector}", found ${workloads.length}.`,
      {
        context: {
          cluster: `selector ${selector}`,
          namespace,
          workloads: workloads.map((w) => `${w.kind}/${w.name}`),
        },
        hint: 'Narrow the selector to the pods of one workload, or name it with --deployment/--statefulset.',
      },
    );
  }
  return { pods, workload: workloads[0]!, selector };
}

function matches(want: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

function labelsToSelector(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

// A port given by number, or by container port name looked up in the pods' specs.
export function containerPortOf(port: number | string, pods: readonly PodInfo[], name: string): number {
  const asNumber = typeof port === 'number' ? port : Number(port);
  if (Number.isInteger(asNumber) && asNumber > 0 && asNumber < 65536) return asNumber;
  const found = pods[0]?.containerPorts.find((p) => p.name === port);
  if (found) return found.containerPort;
  throw new PauseError(
    'K8S_ADMIN_PORT_NOT_FOUND',
    `The pods of ${name} have no container port named "${port}".`,
    {
      context: {
        cluster: name,
        ports: pods[0]?.containerPorts.map((p) => p.name ?? String(p.containerPort)) ?? [],
      },
      hint: 'Give --admin-port as a number or as the name of a container port of the pods.',
    },
  );
}
