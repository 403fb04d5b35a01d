/**
 * Release discovery: a Helm release's Scalar pods, its workload and its `<release>-headless` service, turned
 * into pause targets (pod IP + admin port) and a membership snapshot.
 *
 * Labels (the ones Scalar's Helm charts set and scalar-admin-for-kubernetes selects on):
 * `app.kubernetes.io/instance=<release>` and `app.kubernetes.io/app=<scalardb|scalardb-cluster|ledger|auditor>`.
 * Without a product, the release's pods are listed by the instance label and the product is taken from their
 * `app.kubernetes.io/app` labels; other pods of the release (Envoy) are ignored, two products are refused.
 */
import { ConfigError, PauseError } from '../errors.ts';
import type { MembershipSnapshot, Target } from '../pause/contract.ts';
import { targetLabel } from '../pause/targets.ts';
import type { K8sApi, PodInfo, ServiceInfo, WorkloadInfo } from './k8s-api.ts';

export type ScalarProduct = 'scalardb' | 'scalardb-cluster' | 'scalardl-ledger' | 'scalardl-auditor';

export interface ProductInfo {
  /** Value of the `app.kubernetes.io/app` label on the product's pods, workload and services. */
  readonly appLabel: string;
  /** Name of the admin port in the headless service (also the SRV service name). */
  readonly adminPortName: string;
  /** The chart's default admin port (documentation only: the service is authoritative). */
  readonly defaultAdminPort: number;
}

export const PRODUCTS: Readonly<Record<ScalarProduct, ProductInfo>> = {
  scalardb: { appLabel: 'scalardb', adminPortName: 'scalardb', defaultAdminPort: 60051 },
  'scalardb-cluster': { appLabel: 'scalardb-cluster', adminPortName: 'scalardb-cluster', defaultAdminPort: 60053 },
  'scalardl-ledger': { appLabel: 'ledger', adminPortName: 'scalardl-admin', defaultAdminPort: 50053 },
  'scalardl-auditor': { appLabel: 'auditor', adminPortName: 'scalardl-auditor-admin', defaultAdminPort: 40053 },
};

export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_APP = 'app.kubernetes.io/app';

export interface ReleaseRef {
  readonly release: string;
  readonly namespace: string;
  readonly product?: ScalarProduct;
}

/** Everything read about a release at one moment. */
export interface ReleaseSnapshot {
  readonly release: string;
  readonly namespace: string;
  readonly product: ScalarProduct;
  readonly pods: readonly PodInfo[];
  readonly workload: WorkloadInfo;
  readonly service: ServiceInfo;
  readonly adminPort: number;
}

/** The SRV name a person would give the upstream client (`scalar-admin -s …`) for this release. */
export function srvNameFor(ref: ReleaseRef & { product: ScalarProduct }, clusterDomain = 'cluster.local'): string {
  return `_${PRODUCTS[ref.product].adminPortName}._tcp.${ref.release}-headless.${ref.namespace}.svc.${clusterDomain}`;
}

/** Label selector of the product's pods and workload. */
export function productSelector(release: string, product: ScalarProduct): string {
  return `${LABEL_INSTANCE}=${release},${LABEL_APP}=${PRODUCTS[product].appLabel}`;
}

/** Reads the release. Throws PauseError `K8S_RELEASE_NOT_FOUND` / `K8S_ADMIN_PORT_NOT_FOUND` / `K8S_WORKLOAD_AMBIGUOUS`. */
export async function readRelease(api: K8sApi, ref: ReleaseRef, signal?: AbortSignal): Promise<ReleaseSnapshot> {
  const product = ref.product ?? (await detectProduct(api, ref, signal));
  const selector = productSelector(ref.release, product);
  const [pods, workloads, service] = await Promise.all([
    api.listPods(ref.namespace, selector, signal),
    api.listWorkloads(ref.namespace, selector, signal),
    api.getService(ref.namespace, `${ref.release}-headless`, signal),
  ]);
  const context = { cluster: ref.release, namespace: ref.namespace, product };
  if (pods.length === 0) {
    throw new PauseError('K8S_RELEASE_NOT_FOUND', `No ${product} pods found for release "${ref.release}" in namespace "${ref.namespace}".`, {
      context: { ...context, selector },
      hint: 'Check the release name (helm list -n <namespace>), the namespace and --product.',
    });
  }
  if (workloads.length !== 1) {
    throw new PauseError('K8S_WORKLOAD_AMBIGUOUS', `Expected one Deployment or StatefulSet for release "${ref.release}" (${selector}), found ${workloads.length}.`, {
      context: { ...context, workloads: workloads.map((w) => `${w.kind}/${w.name}`) },
      hint: 'Deploy the product with the Scalar Helm chart, which creates exactly one workload per release.',
    });
  }
  if (!service) {
    throw new PauseError('K8S_SERVICE_NOT_FOUND', `Service "${ref.release}-headless" not found in namespace "${ref.namespace}".`, {
      context,
      hint: 'The Scalar Helm chart creates <release>-headless; check the release name.',
    });
  }
  const adminPort = adminPortOf(service, product, pods);
  return { release: ref.release, namespace: ref.namespace, product, pods, workload: workloads[0]!, service, adminPort };
}

/** The product of the release's pods (by `app.kubernetes.io/app`). Throws PauseError `K8S_RELEASE_NOT_FOUND` / `K8S_PRODUCT_AMBIGUOUS`. */
export async function detectProduct(api: K8sApi, ref: ReleaseRef, signal?: AbortSignal): Promise<ScalarProduct> {
  const pods = await api.listPods(ref.namespace, `${LABEL_INSTANCE}=${ref.release}`, signal);
  const found = new Set<ScalarProduct>();
  for (const pod of pods) {
    const app = pod.labels[LABEL_APP];
    const product = (Object.keys(PRODUCTS) as ScalarProduct[]).find((p) => PRODUCTS[p].appLabel === app);
    if (product) found.add(product); // Envoy and other helper pods of the release are not paused.
  }
  if (found.size === 1) return [...found][0]!;
  throw new PauseError(
    found.size === 0 ? 'K8S_RELEASE_NOT_FOUND' : 'K8S_PRODUCT_AMBIGUOUS',
    found.size === 0
      ? `No Scalar product pods found for release "${ref.release}" in namespace "${ref.namespace}".`
      : `Release "${ref.release}" runs several products (${[...found].join(', ')}).`,
    {
      context: { cluster: ref.release, namespace: ref.namespace, pods: pods.map((p) => p.name) },
      hint: 'Give --product (scalardb, scalardb-cluster, scalardl-ledger, scalardl-auditor) and check the release name.',
    },
  );
}

// The admin port is the named service port's targetPort (a container port number, or a container port name).
function adminPortOf(service: ServiceInfo, product: ScalarProduct, pods: readonly PodInfo[]): number {
  const name = PRODUCTS[product].adminPortName;
  const port = service.ports.find((p) => p.name === name);
  if (!port) {
    throw new PauseError('K8S_ADMIN_PORT_NOT_FOUND', `Service "${service.name}" has no port named "${name}".`, {
      context: { ports: service.ports.map((p) => p.name ?? String(p.port)) },
      hint: `The ${product} admin port must be a named port "${name}" of the headless service (Scalar Helm chart default).`,
    });
  }
  if (port.targetPort === undefined) return port.port;
  if (typeof port.targetPort === 'number') return port.targetPort;
  const byName = pods[0]?.containerPorts.find((p) => p.name === port.targetPort);
  if (byName) return byName.containerPort;
  const asNumber = Number(port.targetPort);
  if (Number.isInteger(asNumber) && asNumber > 0) return asNumber;
  throw new PauseError('K8S_ADMIN_PORT_NOT_FOUND', `Target port "${port.targetPort}" of service "${service.name}" matches no container port.`, {
    context: { port: name },
    hint: 'Use a numeric targetPort or name the container port the same.',
  });
}

/**
 * Refuses a release that is not fit to pause: a pod not `Running`, being deleted, or without an IP (the manual
 * procedure of the Scalar docs requires every pod Running). Throws PauseError `K8S_POD_NOT_RUNNING`.
 */
export function assertAllRunning(snapshot: ReleaseSnapshot): void {
  const bad = snapshot.pods.filter((p) => p.phase !== 'Running' || p.deleting || p.podIp === undefined);
  if (bad.length === 0) return;
  throw new PauseError(
    'K8S_POD_NOT_RUNNING',
    `Release "${snapshot.release}" has pods that are not Running: ${bad.map(describeNotRunning).join(', ')}.`,
    {
      context: { cluster: snapshot.release, namespace: snapshot.namespace, pods: bad.map((p) => p.name) },
      hint: 'Wait until every pod is Running (kubectl get pods -n <namespace>) and try again; a pod that starts later would run unpaused.',
    },
  );
}

function describeNotRunning(pod: PodInfo): string {
  if (pod.deleting) return `${pod.name} (terminating)`;
  if (pod.podIp === undefined && pod.phase === 'Running') return `${pod.name} (no pod IP)`;
  return `${pod.name} (${pod.phase})`;
}

/** Pause targets: every pod by its IP (never a DNS name that could move) and the admin port. */
export function targetsOf(snapshot: ReleaseSnapshot): Target[] {
  return snapshot.pods
    .filter((p) => p.podIp !== undefined)
    .map((p) => ({ host: p.podIp!, port: snapshot.adminPort, label: targetLabel(p.podIp!, snapshot.adminPort) }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * The membership snapshot: one item per pod (name, phase, restart count, resourceVersion, IP) and one for the
 * workload (resourceVersion, replicas). Equal fingerprints mean nothing that matters changed.
 */
export function membershipOf(snapshot: ReleaseSnapshot): MembershipSnapshot {
  const pods = [...snapshot.pods]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => `pod ${p.name} phase=${p.phase} restarts=${totalRestarts(p)} rv=${p.resourceVersion} ip=${p.podIp ?? '-'}`);
  const w = snapshot.workload;
  const items = [...pods, `${w.kind.toLowerCase()} ${w.name} rv=${w.resourceVersion} replicas=${w.replicas}`];
  return { fingerprint: items.join('\n'), items };
}

export function totalRestarts(pod: PodInfo): number {
  return Object.values(pod.restarts).reduce((sum, n) => sum + n, 0);
}

/** What changed between two snapshots of the same release, in words (empty: nothing). */
export function describeChanges(before: ReleaseSnapshot, after: ReleaseSnapshot): string[] {
  const changes: string[] = [];
  const afterByName = new Map(after.pods.map((p) => [p.name, p]));
  const beforeNames = new Set(before.pods.map((p) => p.name));
  for (const pod of before.pods) {
    const now = afterByName.get(pod.name);
    if (!now) {
      changes.push(`pod ${pod.name} is gone`);
      continue;
    }
    if (now.uid !== pod.uid) changes.push(`pod ${pod.name} was recreated`);
    if (totalRestarts(now) !== totalRestarts(pod)) {
      changes.push(`pod ${pod.name} restarted (restarts ${totalRestarts(pod)} → ${totalRestarts(now)})`);
    }
    if (now.phase !== pod.phase) changes.push(`pod ${pod.name} phase ${pod.phase} → ${now.phase}`);
    if (now.deleting && !pod.deleting) changes.push(`pod ${pod.name} is terminating`);
    if (now.podIp !== pod.podIp) changes.push(`pod ${pod.name} IP ${pod.podIp ?? '-'} → ${now.podIp ?? '-'}`);
    if (now.resourceVersion !== pod.resourceVersion) {
      changes.push(`pod ${pod.name} resourceVersion ${pod.resourceVersion} → ${now.resourceVersion}`);
    }
  }
  for (const pod of after.pods) if (!beforeNames.has(pod.name)) changes.push(`new pod ${pod.name} (${pod.phase})`);
  const [w0, w1] = [before.workload, after.workload];
  if (w0.name !== w1.name || w0.kind !== w1.kind) changes.push(`workload ${w0.kind}/${w0.name} → ${w1.kind}/${w1.name}`);
  else if (w0.resourceVersion !== w1.resourceVersion) {
    changes.push(`${w0.kind} ${w0.name} resourceVersion ${w0.resourceVersion} → ${w1.resourceVersion}`);
  }
  if (before.adminPort !== after.adminPort) changes.push(`admin port ${before.adminPort} → ${after.adminPort}`);
  return changes;
}

/** Validates a product name from a flag or plan. Throws ConfigError `K8S_PRODUCT_INVALID`. */
export function parseProduct(text: string): ScalarProduct {
  if (text in PRODUCTS) return text as ScalarProduct;
  throw new ConfigError('K8S_PRODUCT_INVALID', `Unknown product "${text}".`, {
    hint: `Use one of: ${Object.keys(PRODUCTS).join(', ')}.`,
  });
}
