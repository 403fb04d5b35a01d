/**
 * A FAKE Kubernetes API server for tests (no real one can run here). It speaks the same HTTP/JSON API as the
 * real one for the objects stillpoint uses — pods and services (list by label selector, read), endpoints, Deployments
 * and StatefulSets (list, read, `scale` subresource read/patch) — holds state, and plays a tiny controller:
 * scaling marks pods terminating and removes them, or creates pods that become Running and Ready after a delay.
 * Tests can script changes (a restart, a new pod, a phase) at any moment, e.g. inside a pause window.
 *
 * The real adapter (src/k8s/k8s-client-api.ts, over @kubernetes/client-node) talks to it through a KubeConfig
 * whose cluster server is `http://127.0.0.1:<port>` — see {@link FakeK8sApiServer.kubeConfig}.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { WorkloadKind } from '../../src/k8s/k8s-api.ts';

export interface FakePod {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  phase: string;
  podIp?: string;
  ready: boolean;
  restartCount: number;
  deleting: boolean;
  resourceVersion: string;
  containerPorts: { name: string; containerPort: number }[];
  owner?: { kind: string; name: string };
}

export interface FakeWorkload {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  replicas: number;
  resourceVersion: string;
  /** Labels and container ports given to the pods the fake controller creates. */
  podTemplate: { labels: Record<string, string>; containerPorts: { name: string; containerPort: number }[] };
}

export interface FakeService {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ports: { name: string; port: number; targetPort: number | string }[];
  resourceVersion: string;
}

export interface FakeControllerOptions {
  /** Delay before a new pod is Running and Ready, ms. Default 50. */
  readonly startDelayMs?: number;
  /** Delay before a terminating pod disappears, ms. Default 50. */
  readonly deleteDelayMs?: number;
  /** IP for a pod the controller creates. Default 127.0.0.<n>, n from 100 up. */
  readonly allocateIp?: () => string;
  /** When true the controller does nothing (pods never go or come): for timeout tests. */
  stuck?: boolean;
}

/** One request as the fake saw it (tests assert the real adapter's calls). */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType?: string;
  readonly authorization?: string;
}

export class FakeK8sApiServer {
  readonly pods = new Map<string, FakePod>();
  readonly workloads = new Map<string, FakeWorkload>();
  readonly services = new Map<string, FakeService>();
  readonly requests: SeenRequest[] = [];
  /** Status to answer every request with (e.g. 403, 500) instead of serving it; undefined: serve. */
  failWith: number | undefined;
  /** When true, requests are never answered (deadline tests). */
  hang = false;
  private rv = 1000;
  private nextIp = 100;
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private port = 0;

  constructor(readonly controller: FakeControllerOptions = {}) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at this fake (bearer token `fake-token`). */
  kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user', namespace: 'default' }],
      currentContext: 'fake',
    });
    return config;
  }

  /** The same as a kubeconfig YAML file's content (for the CLI). */
  kubeConfigYaml(): string {
    return this.kubeConfig().exportConfig();
  }

  // ------------------------------------------------------------------------------------------------ state

  bump(): string {
    this.rv += 1;
    return String(this.rv);
  }

  addWorkload(w: Omit<FakeWorkload, 'resourceVersion'>): FakeWorkload {
    const workload = { ...w, resourceVersion: this.bump() };
    this.workloads.set(key(w.namespace, w.kind, w.name), workload);
    return workload;
  }

  addService(s: Omit<FakeService, 'resourceVersion'>): FakeService {
    const service = { ...s, resourceVersion: this.bump() };
    this.services.set(key(s.namespace, 'Service', s.name), service);
    return service;
  }

  addPod(p: Partial<FakePod> & Pick<FakePod, 'name' | 'namespace' | 'labels'>): FakePod {
    const pod: FakePod = {
      uid: randomUUID(),
      phase: 'Running',
      ready: true,
      restartCount: 0,
      deleting: false,
      containerPorts: [],
      ...p,
      resourceVersion: this.bump(),
    };
    this.pods.set(key(p.namespace, 'Pod', p.name), pod);
    return pod;
  }

  pod(namespace: string, name: string): FakePod {
    const pod = this.pods.get(key(namespace, 'Pod', name));
    if (!pod) throw new Error(`fake: no pod ${namespace}/${name}`);
    return pod;
  }

  /** A container restart: restart count + 1 and a new resourceVersion (as the kubelet's status update). */
  restartPod(namespace: string, name: string): void {
    const pod = this.pod(namespace, name);
    pod.restartCount += 1;
    pod.resourceVersion = this.bump();
  }

  setPhase(namespace: string, name: string, phase: string, ready = phase === 'Running'): void {
    const pod = this.pod(namespace, name);
    Object.assign(pod, { phase, ready, resourceVersion: this.bump() });
  }

  // ---------------------------------------------------------------------------------------------- controller

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private reconcile(w: FakeWorkload): void {
    if (this.controller.stuck) return;
    const owned = [...this.pods.values()].filter(
      (p) => p.owner?.name === w.name && p.namespace === w.namespace,
    );
    const live = owned.filter((p) => !p.deleting);
    for (const pod of live.slice(w.replicas)) {
      Object.assign(pod, { deleting: true, ready: false, resourceVersion: this.bump() });
      this.later(this.controller.deleteDelayMs ?? 50, () =>
        this.pods.delete(key(pod.namespace, 'Pod', pod.name)),
      );
    }
    for (let i = live.length; i < w.replicas; i++) {
      const name = w.kind === 'StatefulSet' ? `${w.name}-${i}` : `${w.name}-${randomUUID().slice(0, 5)}`;
      const pod = this.addPod({
        name,
        namespace: w.namespace,
        labels: { ...w.podTemplate.labels },
        containerPorts: w.podTemplate.containerPorts,
        phase: 'Pending',
        ready: false,
        owner: { kind: w.kind === 'Deployment' ? 'ReplicaSet' : 'StatefulSet', name: w.name },
      });
      this.later(this.controller.startDelayMs ?? 50, () => {
        const ip = this.controller.allocateIp?.() ?? `127.0.0.${this.nextIp++}`;
        Object.assign(pod, { phase: 'Running', ready: true, podIp: ip, resourceVersion: this.bump() });
      });
    }
  }

  // ------------------------------------------------------------------------------------------------- HTTP

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.url);
      this.requests.push({
        method: req.method ?? 'GET',
        path: `${url.pathname}${url.search}`,
        ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      if (this.hang) return;
      if (this.failWith !== undefined)
        return send(res, this.failWith, status(this.failWith, 'scripted failure'));
      try {
        const [code, body] = this.route(req.method ?? 'GET', url, Buffer.concat(chunks).toString('utf8'));
        send(res, code, body);
      } catch (error) {
        send(res, 400, status(400, error instanceof Error ? error.message : String(error)));
      }
    });
  }

  private route(method: string, url: URL, body: string): [number, unknown] {
    const p = url.pathname.split('/').filter(Boolean);
    const selector = url.searchParams.get('labelSelector') ?? '';
    // /api/v1/namespaces/{ns}/{resource}[/{name}]
    if (p[0] === 'api' && p[1] === 'v1' && p[2] === 'namespaces' && method === 'GET') {
      const [ns, resource, name] = [p[3]!, p[4], p[5]];
      if (resource === 'pods' && name === undefined) return [200, this.podList(ns, selector)];
      if (resource === 'services' && name === undefined) return [200, this.serviceList(ns, selector)];
      if (resource === 'services' && name)
        return this.found(this.services.get(key(ns, 'Service', name)), serviceJson);
      if (resource === 'endpoints' && name)
        return this.found(this.services.get(key(ns, 'Service', name)), (s) => this.endpointsJson(s));
    }
    // /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}[/{name}[/scale]]
    if (p[0] === 'apis' && p[1] === 'apps' && p[2] === 'v1' && p[3] === 'namespaces') {
      const [ns, resource, name, sub] = [p[4]!, p[5], p[6], p[7]];
      const kind: WorkloadKind | undefined =
        resource === 'deployments' ? 'Deployment' : resource === 'statefulsets' ? 'StatefulSet' : undefined;
      if (kind && name === undefined && method === 'GET') return [200, this.workloadList(ns, kind, selector)];
      if (kind && name) {
        const w = this.workloads.get(key(ns, kind, name));
        if (sub === undefined && method === 'GET')
          return this.found(w, (x) => workloadJson(x, this.readyCount(x)));
        if (sub === 'scale' && method === 'GET') return this.found(w, scaleJson);
        if (sub === 'scale' && method === 'PATCH') return this.patchScale(w, body);
      }
    }
    return [404, status(404, `fake: no route ${method} ${url.pathname}`)];
  }

  private found<T>(object: T | undefined, render: (o: T) => unknown): [number, unknown] {
    return object ? [200, render(object)] : [404, status(404, 'not found')];
  }

  private patchScale(w: FakeWorkload | undefined, body: string): [number, unknown] {
    if (!w) return [404, status(404, 'not found')];
    const patch = JSON.parse(body) as { spec?: { replicas?: number } };
    const replicas = patch.spec?.replicas;
    if (typeof replicas !== 'number' || replicas < 0) return [422, status(422, 'spec.replicas must be >= 0')];
    Object.assign(w, { replicas, resourceVersion: this.bump() });
    this.reconcile(w);
    return [200, scaleJson(w)];
  }

  private podList(ns: string, selector: string): unknown {
    const match = parseSelector(selector);
    const items = [...this.pods.values()].filter((p) => p.namespace === ns && match(p.labels)).map(podJson);
    return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items };
  }

  private serviceList(ns: string, selector: string): unknown {
    const match = parseSelector(selector);
    const items = [...this.services.values()]
      .filter((s) => s.namespace === ns && match(s.labels))
      .map(serviceJson);
    return { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items };
  }

  private workloadList(ns: string, kind: WorkloadKind, selector: string): unknown {
    const match = parseSelector(selector);
    const items = [...this.workloads.values()]
      .filter((w) => w.namespace === ns && w.kind === kind && match(w.labels))
      .map((w) => workloadJson(w, this.readyCount(w)));
    return {
      kind: `${kind}List`,
      apiVersion: 'apps/v1',
      metadata: { resourceVersion: String(this.rv) },
      items,
    };
  }

  private readyCount(w: FakeWorkload): number {
    return [...this.pods.values()].filter((p) => p.owner?.name === w.name && p.ready && !p.deleting).length;
  }

  private endpointsJson(s: FakeService): unknown {
    const match = parseSelector(
      Object.entries(s.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    );
    const ready = [...this.pods.values()].filter(
      (p) => p.namespace === s.namespace && p.ready && p.podIp && match(p.labels),
    );
    return {
      kind: 'Endpoints',
      apiVersion: 'v1',
      metadata: { name: s.name, namespace: s.namespace, resourceVersion: String(this.rv) },
      subsets: [
        {
          addresses: ready.map((p) => ({ ip: p.podIp })),
          ports: s.ports.map((x) => ({ name: x.name, port: x.port })),
        },
      ],
    };
  }
}

function key(namespace: string, kind: string, name: string): string {
  return `${namespace}/${kind}/${name}`;
}

/** Equality-based selectors only (`k=v`, `k==v`, comma-joined); anything else is a 400, honestly. */
function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector
    .split(',')
    .filter((t) => t.trim() !== '')
    .map((t) => {
      const m = /^([^=!]+)==?([^=]*)$/.exec(t.trim());
      if (!m) throw new Error(`fake: unsupported label selector term "${t}"`);
      return [m[1]!, m[2]!] as const;
    });
  return (labels) => terms.every(([k, v]) => labels[k] === v);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function status(code: number, message: string): unknown {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code };
}

function podJson(p: FakePod): unknown {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      labels: p.labels,
      resourceVersion: p.resourceVersion,
      ...(p.deleting ? { deletionTimestamp: new Date().toISOString() } : {}),
      ...(p.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'x', controller: true },
            ],
          }
        : {}),
    },
    spec: { containers: [{ name: 'main', image: 'fake', ports: p.containerPorts }] },
    status: {
      phase: p.phase,
      ...(p.podIp ? { podIP: p.podIp } : {}),
      conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'main',
          image: 'fake',
          imageID: '',
          ready: p.ready,
          restartCount: p.restartCount,
          started: p.phase === 'Running',
        },
      ],
    },
  };
}

function serviceJson(s: FakeService): unknown {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name: s.name, namespace: s.namespace, labels: s.labels, resourceVersion: s.resourceVersion },
    spec: { clusterIP: 'None', ports: s.ports.map((x) => ({ ...x, protocol: 'TCP' })) },
  };
}

function workloadJson(w: FakeWorkload, readyReplicas?: number): unknown {
  return {
    kind: w.kind,
    apiVersion: 'apps/v1',
    metadata: { name: w.name, namespace: w.namespace, labels: w.labels, resourceVersion: w.resourceVersion },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: w.podTemplate.labels },
      template: {
        metadata: { labels: w.podTemplate.labels },
        spec: { containers: [{ name: 'main', image: 'fake' }] },
      },
      ...(w.kind === 'StatefulSet' ? { serviceName: `${w.name}-headless` } : {}),
    },
    status: { replicas: w.replicas, ...(readyReplicas !== undefined ? { readyReplicas } : {}) },
  };
}

function scaleJson(w: FakeWorkload): unknown {
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: w.name, namespace: w.namespace, resourceVersion: w.resourceVersion },
    spec: { replicas: w.replicas },
    status: { replicas: w.replicas },
  };
}
