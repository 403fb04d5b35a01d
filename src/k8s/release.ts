/**
 * Release discovery: the Scalar pods to pause, their workload and their admin port, turned into pause targets
 * (pod IP + admin port) and a membership snapshot. Three ways to name them (exactly one):
 *
 * - a Helm **release** of a Scalar chart. Pods and workload by the labels the charts set and
 *   scalar-admin-for-kubernetes selects on: `app.kubernetes.io/instance=<release>` and
 *   `app.kubernetes.io/app=<scalardb|scalardb-cluster|ledger|auditor>`. The admin port is the named port of the
 *   headless service, found as upstream finds it: by those labels and the `-headless` suffix, else by the name
 *   the charts give it, `<fullname>-headless` ({@link chartFullname}).
 * - a **workload** (Deployment/StatefulSet by name) or a pod label **selector**, with an explicit admin port:
 *   for operators and hand-written manifests without Helm labels.
 *
 * Without a product, a release's pods are listed by the instance label and the product is taken from their
 * `app.kubernetes.io/app` labels; other pods of the release (Envoy) are ignored, two products are refused.
 */
import { ConfigError, PauseError } from '../errors.ts';
import type { MembershipSnapshot, Target } from '../pause/contract.ts';
import { targetLabel } from '../pause/targets.ts';
import type { K8sApi, PodInfo, ServiceInfo, WorkloadInfo, WorkloadKind } from './k8s-api.ts';
import { bySelector, byWorkload, containerPortOf } from './workload-discovery.ts';

export type ScalarProduct = 'scalardb' | 'scalardb-cluster' | 'scalardl-ledger' | 'scalardl-auditor';

export interface ProductInfo {
  /** Value of the `app.kubernetes.io/app` label on the product's pods, workload and services. */
  readonly appLabel: string;
  /** Name of the admin port in the headless service (also the SRV service name). */
  readonly adminPortName: string;
  /** The chart's default admin port (documentation only: the service is authoritative). */
  readonly defaultAdminPort: number;
  /** The Helm chart's `name` (Chart.yaml), from which the chart derives its object names. */
  readonly chartName: string;
}

export const PRODUCTS: Readonly<Record<ScalarProduct, ProductInfo>> = {
  scalardb: {
    appLabel: 'scalardb',
    adminPortName: 'scalardb',
    defaultAdminPort: 60051,
    chartName: 'scalardb',
  },
  'scalardb-cluster': {
    appLabel: 'scalardb-cluster',
    adminPortName: 'scalardb-cluster',
    defaultAdminPort: 60053,
    chartName: 'scalardb-cluster',
  },
  'scalardl-ledger': {
    appLabel: 'ledger',
    adminPortName: 'scalardl-admin',
    defaultAdminPort: 50053,
    chartName: 'scalardl',
  },
  'scalardl-auditor': {
    appLabel: 'auditor',
    adminPortName: 'scalardl-auditor-admin',
    defaultAdminPort: 40053,
    chartName: 'scalardl-audit',
  },
};

export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_APP = 'app.kubernetes.io/app';

/** What to pause: exactly one of `release`, `workload`, `selector`. */
export interface ReleaseRef {
  readonly namespace: string;
  /** A Helm release of a Scalar chart. */
  readonly release?: string;
  readonly product?: ScalarProduct;
  /** A Deployment or StatefulSet by name (its pods by its `spec.selector.matchLabels`). */
  readonly workload?: { readonly kind: WorkloadKind; readonly name: string };
  /** A pod label selector (`k=v,k2=v2`). */
  readonly selector?: string;
  /**
   * The admin port: a number or a container port name. Required with `workload` / `selector` (no chart
   * service to read it from); ignored for a release, whose headless service is authoritative.
   */
  readonly adminPort?: number | string;
}

/** Everything read about a release (or workload / selection) at one moment. */
export interface ReleaseSnapshot {
  /** The release name, `deployment/<name>`, `statefulset/<name>` or `selector <s>`: for messages. */
  readonly name: string;
  readonly namespace: string;
  /** Known for releases (given or from the labels); for others only when given. */
  readonly product?: ScalarProduct;
  readonly pods: readonly PodInfo[];
  readonly workload: WorkloadInfo;
  /** The headless service (releases only). */
  readonly service?: ServiceInfo;
  readonly adminPort: number;
}

/** How a ref is called in messages. */
export function refName(ref: ReleaseRef): string {
  if (ref.release !== undefined) return ref.release;
  if (ref.workload !== undefined) return `${ref.workload.kind.toLowerCase()}/${ref.workload.name}`;
  return `selector ${ref.selector ?? ''}`;
}

/**
 * The `fullname` of a Scalar chart's release, by the charts' own rule (`<chart>.fullname` in their
 * _helpers.tpl): `fullnameOverride`, else the release name when it already contains the chart name, else
 * `<release>-<chart>`; truncated to 63 characters, one trailing `-` trimmed.
 */
export function chartFullname(release: string, chartName: string, fullnameOverride?: string): string {
  const trim = (s: string): string => {
    const cut = s.slice(0, 63);
    return cut.endsWith('-') ? cut.slice(0, -1) : cut;
  };
  if (fullnameOverride) return trim(fullnameOverride);
  return trim(release.includes(chartName) ? release : `${release}-${chartName}`);
}

/** The SRV name a person would give the upstream client (`scalar-admin -s …`) for this release. */
export function srvNameFor(snapshot: ReleaseSnapshot, clusterDomain = 'cluster.local'): string | undefined {
  if (snapshot.service === undefined || snapshot.product === undefined) return undefined;
  return `_${PRODUCTS[snapshot.product].adminPortName}._tcp.${snapshot.service.name}.${snapshot.namespace}.svc.${clusterDomain}`;
}

/** Label selector of the product's pods and workload. */
export function productSelector(release: string, product: ScalarProduct): string {
  return `${LABEL_INSTANCE}=${release},${LABEL_APP}=${PRODUCTS[product].appLabel}`;
}

/**
 * Reads the release, workload or selection. Throws PauseError `K8S_RELEASE_NOT_FOUND` /
 * `K8S_SERVICE_NOT_FOUND` / `K8S_ADMIN_PORT_NOT_FOUND` / `K8S_WORKLOAD_AMBIGUOUS`, ConfigError `K8S_SOURCE_INVALID`.
 */
export async function readRelease(
  api: K8sApi,
  ref: ReleaseRef,
  signal?: AbortSignal,
): Promise<ReleaseSnapshot> {
  const ways = [ref.release, ref.workload, ref.selector].filter((x) => x !== undefined).length;
  if (ways !== 1) {
    throw new ConfigError(
      'K8S_SOURCE_INVALID',
      'Name exactly one of a Helm release, a workload or a label selector.',
      {
        hint: 'Give -r <release>, or --deployment/--statefulset <name>, or --selector k=v with --admin-port.',
      },
    );
  }
  if (ref.release !== undefined) return readHelmRelease(api, { ...ref, release: ref.release }, signal);
  if (ref.adminPort === undefined) {
    throw new ConfigError(
      'K8S_SOURCE_INVALID',
      `An admin port is needed to pause ${refName(ref)} (no Scalar chart service to read it from).`,
      {
        hint: 'Give --admin-port <number|container port name> (plan: adminPort).',
      },
    );
  }
  const { pods, workload, selector } =
    ref.workload !== undefined
      ? await byWorkload(api, ref.namespace, ref.workload, signal)
      : await bySelector(api, ref.namespace, ref.selector!, signal);
  const name = refName(ref);
  if (pods.length === 0) {
    throw new PauseError(
      'K8S_RELEASE_NOT_FOUND',
      `No pods found for ${name} in namespace "${ref.namespace}".`,
      {
        context: { cluster: name, namespace: ref.namespace, selector },
        hint: 'Check the workload name or the selector, and the namespace.',
      },
    );
  }
  const adminPort = containerPortOf(ref.adminPort, pods, name);
  return {
    name,
    namespace: ref.namespace,
    ...(ref.product ? { product: ref.product } : {}),
    pods,
    workload,
    adminPort,
  };
}

async function readHelmRelease(
  api: K8sApi,
  ref: ReleaseRef & { release: string },
  signal?: AbortSignal,
): Promise<ReleaseSnapshot> {
  const product = ref.product ?? (await detectProduct(api, ref, signal));
  const selector = productSelector(ref.release, product);
  const [pods, workloads, service] = await Promise.all([
    api.listPods(ref.namespace, selector, signal),
    api.listWorkloads(ref.namespace, selector, signal),
    findHeadlessService(api, ref.namespace, ref.release, product, signal),
  ]);
  const context = { cluster: ref.release, namespace: ref.namespace, product };
  if (pods.length === 0) {
    throw new PauseError(
      'K8S_RELEASE_NOT_FOUND',
      `No ${product} pods found for release "${ref.release}" in namespace "${ref.namespace}".`,
      {
        context: { ...context, selector },
        hint: 'Check the release name (helm list -n <namespace>), the namespace and --product.',
      },
    );
  }
  if (workloads.length !== 1) {
    throw new PauseError(
      'K8S_WORKLOAD_AMBIGUOUS',
      `Expected one Deployment or StatefulSet for release "${ref.release}" (${selector}), found ${workloads.length}.`,
      {
        context: { ...context, workloads: workloads.map((w) => `${w.kind}/${w.name}`) },
        hint: 'Deploy the product with the Scalar Helm chart, which creates exactly one workload per release.',
      },
    );
  }
  const adminPort = adminPortOf(service, product, pods);
  return {
    name: ref.release,
    namespace: ref.namespace,
    product,
    pods,
    workload: workloads[0]!,
    service,
    adminPort,
  };
}

/**
 * The release's headless service, as upstream finds it: the services with the release's labels whose name
 * ends in `-headless`; if none carries the labels, the name the chart gives it (`<fullname>-headless`).
 * Throws PauseError `K8S_SERVICE_NOT_FOUND`.
 */
export async function findHeadlessService(
  api: K8sApi,
  namespace: string,
  release: string,
  product: ScalarProduct,
  signal?: AbortSignal,
): Promise<ServiceInfo> {
  const expected = `${chartFullname(release, PRODUCTS[product].chartName)}-headless`;
  const labelled = (await api.listServices(namespace, productSelector(release, product), signal)).filter(
    (s) => s.name.endsWith('-headless'),
  );
  if (labelled.length === 1) return labelled[0]!;
  const exact =
    labelled.find((s) => s.name === expected) ??
    (labelled.length === 0 ? await api.getService(namespace, expected, signal) : undefined);
  if (exact) return exact;
  throw new PauseError(
    'K8S_SERVICE_NOT_FOUND',
    labelled.length === 0
      ? `No headless service of release "${release}" found in namespace "${namespace}" (by labels ${productSelector(release, product)}, or by the chart's name "${expected}").`
      : `Release "${release}" has several headless services (${labelled.map((s) => s.name).join(', ')}) and none is named "${expected}".`,
    {
      context: { cluster: release, namespace, product, expected, found: labelled.map((s) => s.name) },
      hint: 'Check the release name (helm list) and --product; without the Scalar chart use --deployment/--statefulset or --selector with --admin-port.',
    },
  );
}

/** The product of the release's pods (by `app.kubernetes.io/app`). Throws PauseError `K8S_RELEASE_NOT_FOUND` / `K8S_PRODUCT_AMBIGUOUS`. */
export async function detectProduct(
  api: K8sApi,
  ref: { readonly release: string; readonly namespace: string },
  signal?: AbortSignal,
): Promise<ScalarProduct> {
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
    throw new PauseError(
      'K8S_ADMIN_PORT_NOT_FOUND',
      `Service "${service.name}" has no port named "${name}".`,
      {
        context: { ports: service.ports.map((p) => p.name ?? String(p.port)) },
        hint: `The ${product} admin port must be a named port "${name}" of the headless service (Scalar Helm chart default).`,
      },
    );
  }
  if (port.targetPort === undefined) return port.port;
  if (typeof port.targetPort === 'number') return port.targetPort;
  const byName = pods[0]?.containerPorts.find((p) => p.name === port.targetPort);
  if (byName) return byName.containerPort;
  const asNumber = Number(port.targetPort);
  if (Number.isInteger(asNumber) && asNumber > 0) return asNumber;
  throw new PauseError(
    'K8S_ADMIN_PORT_NOT_FOUND',
    `Target port "${port.targetPort}" of service "${service.name}" matches no container port.`,
    {
      context: { port: name },
      hint: 'Use a numeric targetPort or name the container port the same.',
    },
  );
}

/**
 * Refuses a release that is not fit to pause: a pod not `Running`, not Ready, being deleted, or without an IP
 * (the manual procedure of the Scalar docs requires every pod Running; a crash-looping container leaves the
 * pod's phase Running, only readiness shows it). Throws PauseError `K8S_POD_NOT_RUNNING`.
 */
export function assertAllRunning(snapshot: ReleaseSnapshot): void {
  const bad = snapshot.pods.filter((p) => !isSettled(p));
  if (bad.length === 0) return;
  throw new PauseError(
    'K8S_POD_NOT_RUNNING',
    `${snapshot.service ? 'Release ' : ''}"${snapshot.name}" has pods that are not Running and Ready: ${bad.map(describeNotRunning).join(', ')}.`,
    {
      context: { cluster: snapshot.name, namespace: snapshot.namespace, pods: bad.map((p) => p.name) },
      hint: 'Wait until every pod is Running and Ready (kubectl get pods -n <namespace>) and try again; a pod that starts later would run unpaused.',
    },
  );
}

/** Running, Ready, not being deleted and with an IP: what a pod must be to be paused. */
export function isSettled(pod: PodInfo): boolean {
  return pod.phase === 'Running' && pod.ready && !pod.deleting && pod.podIp !== undefined;
}

function describeNotRunning(pod: PodInfo): string {
  if (pod.deleting) return `${pod.name} (terminating)`;
  if (pod.podIp === undefined && pod.phase === 'Running') return `${pod.name} (no pod IP)`;
  if (pod.phase === 'Running' && !pod.ready) return `${pod.name} (Running, not Ready)`;
  return `${pod.name} (${pod.phase})`;
}

/** The last resort for pods an Unpause cannot reach (upstream's too): restart the workload; its pods start unpaused. */
export function rolloutRestartCommand(snapshot: Pick<ReleaseSnapshot, 'workload' | 'namespace'>): string {
  return `kubectl rollout restart ${snapshot.workload.kind.toLowerCase()}/${snapshot.workload.name} -n ${snapshot.namespace}`;
}

/** Pause targets: every pod by its IP (never a DNS name that could move) and the admin port. */
export function targetsOf(snapshot: ReleaseSnapshot): Target[] {
  return snapshot.pods
    .filter((p) => p.podIp !== undefined)
    .map((p) => ({
      host: p.podIp!,
      port: snapshot.adminPort,
      label: targetLabel(p.podIp!, snapshot.adminPort),
    }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * The membership snapshot: one item per pod (name, phase, readiness, restart count, resourceVersion, IP) and one for the
 * workload (resourceVersion, replicas). Equal fingerprints mean nothing that matters changed.
 */
export function membershipOf(snapshot: ReleaseSnapshot): MembershipSnapshot {
  const pods = [...snapshot.pods]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map(
      (p) =>
        `pod ${p.name} phase=${p.phase} ready=${p.ready} restarts=${totalRestarts(p)} rv=${p.resourceVersion} ip=${p.podIp ?? '-'}`,
    );
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
    if (now.ready !== pod.ready)
      changes.push(`pod ${pod.name} ${now.ready ? 'became Ready' : 'is no longer Ready'}`);
    if (now.deleting && !pod.deleting) changes.push(`pod ${pod.name} is terminating`);
    if (now.podIp !== pod.podIp) changes.push(`pod ${pod.name} IP ${pod.podIp ?? '-'} → ${now.podIp ?? '-'}`);
    if (now.resourceVersion !== pod.resourceVersion) {
      changes.push(`pod ${pod.name} resourceVersion ${pod.resourceVersion} → ${now.resourceVersion}`);
    }
  }
  for (const pod of after.pods)
    if (!beforeNames.has(pod.name)) changes.push(`new pod ${pod.name} (${pod.phase})`);
  const [w0, w1] = [before.workload, after.workload];
  if (w0.name !== w1.name || w0.kind !== w1.kind)
    changes.push(`workload ${w0.kind}/${w0.name} → ${w1.kind}/${w1.name}`);
  else if (w0.resourceVersion !== w1.resourceVersion) {
    changes.push(`${w0.kind} ${w0.name} resourceVersion ${w0.resourceVersion} → ${w1.resourceVersion}`);
  }
  if (before.adminPort !== after.adminPort)
    changes.push(`admin port ${before.adminPort} → ${after.adminPort}`);
  return changes;
}

/** Validates a product name from a flag or plan. Throws ConfigError `K8S_PRODUCT_INVALID`. */
export function parseProduct(text: string): ScalarProduct {
  if (text in PRODUCTS) return text as ScalarProduct;
  throw new ConfigError('K8S_PRODUCT_INVALID', `Unknown product "${text}".`, {
    hint: `Use one of: ${Object.keys(PRODUCTS).join(', ')}.`,
  });
}
