/**
 * A Helm release as the tests see it: the fake Kubernetes API server holding what a Scalar chart creates — a
 * workload, the `<fullname>-headless` service (next to a `<fullname>-metrics` one with the same labels) and N
 * pods, named by the charts' rules (fullname = `<release>-<chart>`, or the release name when it already
 * contains the chart name; see chartFullname) — and one REAL admin server (real gate, real gRPC) per pod, each bound
 * to its own loopback address 127.0.0.<n> on the SAME port — like pods with their own IPs and one container
 * port (Linux routes all of 127.0.0.0/8 to loopback).
 */
import { type RunningAdminServer, startAdminServer } from '../../src/pause/admin-server.ts';
import type { Gate } from '../../src/pause/contract.ts';
import { createGate } from '../../src/pause/gate.ts';
import { PRODUCTS, type ScalarProduct, chartFullname } from '../../src/k8s/release.ts';
import { FakeK8sApiServer, type FakeControllerOptions } from './fake-k8s-api-server.ts';

export interface PodNode {
  readonly name: string;
  readonly ip: string;
  gate: Gate;
  server: RunningAdminServer | undefined;
}

export interface ReleaseFixture {
  readonly fake: FakeK8sApiServer;
  readonly release: string;
  readonly namespace: string;
  readonly product: ScalarProduct;
  readonly port: number;
  readonly nodes: PodNode[];
  /** The chart's fullname for this release, and the workload's name. */
  readonly fullname: string;
  readonly serviceName: string;
  /** Starts an admin server for a pod the test adds later. */
  startNode(name: string, ip: string): Promise<PodNode>;
  close(): Promise<void>;
}

export interface ReleaseFixtureOptions {
  readonly pods?: number;
  readonly product?: ScalarProduct;
  /** Helm release name. Default `prod-db`. */
  readonly release?: string;
  /** Namespace. Default `ns-scalar`. */
  readonly namespace?: string;
  /** Share another fixture's fake API server (several releases in one namespace). It stays open on close. */
  readonly fake?: FakeK8sApiServer;
  /** The workload's kind. Default Deployment. */
  readonly workloadKind?: 'Deployment' | 'StatefulSet';
  /** The chart's `fullnameOverride` value. */
  readonly fullnameOverride?: string;
  /** The admin servers serve TLS with this certificate and require this token. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly token?: string;
  /** The services carry the chart's labels (default true); without them only the name finds the headless one. */
  readonly serviceLabels?: boolean;
  /** Pods whose admin server is NOT started (their endpoint is down). */
  readonly downPods?: readonly number[];
  /** First address octet; each fixture in a file should use its own range. Default 10. */
  readonly firstOctet?: number;
  readonly controller?: FakeControllerOptions;
  /** Also add an Envoy pod to the release (must be ignored). Default true. */
  readonly envoy?: boolean;
}

const quiet = (): void => undefined;

export async function startReleaseFixture(options: ReleaseFixtureOptions = {}): Promise<ReleaseFixture> {
  const release = options.release ?? 'prod-db';
  const namespace = options.namespace ?? 'ns-scalar';
  const product = options.product ?? 'scalardb-cluster';
  const info = PRODUCTS[product];
  const fullname = chartFullname(release, info.chartName, options.fullnameOverride);
  const fake = options.fake ?? new FakeK8sApiServer(options.controller);
  if (!options.fake) await fake.start();
  const first = options.firstOctet ?? 10;
  const count = options.pods ?? 3;
  const nodes: PodNode[] = [];
  // The first server picks a free port; every other pod binds the same port on its own address.
  let port = 0;
  const startNode = async (name: string, ip: string, listen = true): Promise<PodNode> => {
    const gate = createGate({ log: quiet });
    const node: PodNode = { name, ip, gate, server: undefined };
    if (listen) {
      node.server = await startAdminServer({
        gate,
        host: ip,
        port,
        log: quiet,
        ...(options.tls ? { tls: options.tls } : {}),
        ...(options.token ? { token: options.token } : {}),
      });
      port = node.server.port;
    }
    nodes.push(node);
    return node;
  };
  for (let i = 0; i < count; i++) {
    await startNode(`${fullname}-abc-${i}`, `127.0.0.${first + i}`, !(options.downPods ?? []).includes(i));
  }
  if (port === 0) throw new Error('fixture: at least one pod must listen');
  // The chart's selector labels (name, instance, app).
  const labels = {
    'app.kubernetes.io/name': info.chartName,
    'app.kubernetes.io/instance': release,
    'app.kubernetes.io/app': info.appLabel,
  };
  const serviceLabels =
    options.serviceLabels === false ? {} : { ...labels, 'app.kubernetes.io/managed-by': 'Helm' };
  const containerPorts = [{ name: info.adminPortName, containerPort: port }];
  fake.addWorkload({
    kind: options.workloadKind ?? 'Deployment',
    name: fullname,
    namespace,
    labels,
    replicas: count,
    podTemplate: { labels, containerPorts },
  });
  fake.addService({
    name: `${fullname}-metrics`,
    namespace,
    labels: serviceLabels,
    ports: [{ name: `${info.adminPortName}-prometheus`, port: 8080, targetPort: 8080 }],
  });
  fake.addService({
    name: `${fullname}-headless`,
    namespace,
    labels: serviceLabels,
    ports: [
      { name: 'scalardb-cluster-graphql', port: 8080, targetPort: 8080 },
      { name: info.adminPortName, port, targetPort: port },
    ],
  });
  for (const node of nodes) {
    fake.addPod({
      name: node.name,
      namespace,
      labels,
      podIp: node.ip,
      containerPorts,
      owner: { kind: options.workloadKind === 'StatefulSet' ? 'StatefulSet' : 'ReplicaSet', name: fullname },
    });
  }
  if (options.envoy ?? true) {
    fake.addPod({
      name: `${release}-envoy-0`,
      namespace,
      labels: { 'app.kubernetes.io/instance': release, 'app.kubernetes.io/app': 'envoy' },
      podIp: `127.0.0.${first + 50}`,
    });
  }
  return {
    fake,
    release,
    namespace,
    product,
    port,
    nodes,
    fullname,
    serviceName: `${fullname}-headless`,
    startNode: (name, ip) => startNode(name, ip),
    async close() {
      for (const node of nodes) node.gate.unpause('test cleanup');
      await Promise.all(nodes.map((n) => n.server?.close() ?? Promise.resolve()));
      if (!options.fake) await fake.close();
    },
  };
}
