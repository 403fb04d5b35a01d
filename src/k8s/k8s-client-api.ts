/**
 * The real {@link K8sApi}: a thin adapter over @kubernetes/client-node. Configuration comes from a kubeconfig
 * file, or the default chain (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account). Every call
 * carries a deadline (an AbortSignal on the HTTP request), combined with the caller's signal.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type ObservableMiddleware,
  Observable,
  PatchStrategy,
  type V1Deployment,
  type V1Pod,
  type V1Service,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { PauseError } from '../errors.ts';
import type { K8sApi, PodInfo, ServiceInfo, WorkloadInfo, WorkloadKind } from './k8s-api.ts';

export interface K8sClientOptions {
  /** A kubeconfig file. Default: `KUBECONFIG`, `~/.kube/config`, or in-cluster. */
  readonly kubeconfigPath?: string;
  /** An already loaded config (tests point one at a fake API server). Wins over `kubeconfigPath`. */
  readonly kubeConfig?: KubeConfig;
  /** Deadline per API call in ms. Default 10 000. */
  readonly callTimeoutMs?: number;
}

/** Loads the kube config as documented on {@link K8sClientOptions}. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfigPath === undefined) config.loadFromDefault();
  else config.loadFromFile(kubeconfigPath);
  return config;
}

/** Creates the real adapter. */
export function createK8sClientApi(options: K8sClientOptions = {}): K8sApi {
  const config = options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath);
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const timeoutMs = options.callTimeoutMs ?? 10_000;
  const server = config.getCurrentCluster()?.server ?? '(no cluster)';

  // Runs one call with its deadline; maps failures to PauseError K8S_API_FAILED (404 → undefined when asked).
  async function call<T>(
    what: string,
    signal: AbortSignal | undefined,
    fn: (opts: CallOptions) => Promise<T>,
  ) {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      return await fn(signalOptions(combined));
    } catch (error) {
      throw k8sError(what, server, error, deadline.aborted ? timeoutMs : undefined);
    }
  }

  return {
    async listPods(namespace, labelSelector, signal) {
      const list = await call(`list pods (${labelSelector}) in ${namespace}`, signal, (o) =>
        core.listNamespacedPod({ namespace, labelSelector }, o),
      );
      return list.items.map(toPodInfo);
    },
    async listServices(namespace, labelSelector, signal) {
      const list = await call(`list services (${labelSelector}) in ${namespace}`, signal, (o) =>
        core.listNamespacedService({ namespace, labelSelector }, o),
      );
      return list.items.map(toServiceInfo);
    },
    async getService(namespace, name, signal) {
      try {
        return toServiceInfo(
          await call(`read service ${namespace}/${name}`, signal, (o) =>
            core.readNamespacedService({ namespace, name }, o),
          ),
        );
      } catch (error) {
        if (error instanceof PauseError && error.context['status'] === 404) return undefined;
        throw error;
      }
    },
    async listWorkloads(namespace, labelSelector, signal) {
      const [deployments, statefulSets] = await Promise.all([
        call(`list deployments (${labelSelector}) in ${namespace}`, signal, (o) =>
          apps.listNamespacedDeployment({ namespace, ...(labelSelector === '' ? {} : { labelSelector }) }, o),
        ),
        call(`list statefulsets (${labelSelector}) in ${namespace}`, signal, (o) =>
          apps.listNamespacedStatefulSet(
            { namespace, ...(labelSelector === '' ? {} : { labelSelector }) },
            o,
          ),
        ),
      ]);
      return [
        ...deployments.items.map((d) => toWorkloadInfo('Deployment', d)),
        ...statefulSets.items.map((s) => toWorkloadInfo('StatefulSet', s)),
      ];
    },
    async getWorkload(namespace, kind, name, signal) {
      const what = `read ${kind} ${namespace}/${name}`;
      return kind === 'Deployment'
        ? toWorkloadInfo(
            kind,
            await call(what, signal, (o) => apps.readNamespacedDeployment({ namespace, name }, o)),
          )
        : toWorkloadInfo(
            kind,
            await call(what, signal, (o) => apps.readNamespacedStatefulSet({ namespace, name }, o)),
          );
    },
    async scaleWorkload(namespace, kind, name, replicas, signal) {
      const body = { spec: { replicas } };
      const what = `scale ${kind} ${namespace}/${name} to ${replicas}`;
      await call(what, signal, (o) => {
        const opts = withMergePatch(o);
        return kind === 'Deployment'
          ? apps.patchNamespacedDeploymentScale({ namespace, name, body }, opts)
          : apps.patchNamespacedStatefulSetScale({ namespace, name, body }, opts);
      });
    },
  };
}

type CallOptions = { middleware: ObservableMiddleware[]; middlewareMergeStrategy: 'append' };

function signalOptions(signal: AbortSignal): CallOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

// The scale subresource accepts a merge patch; the generated client otherwise sends json-patch.
function withMergePatch(options: CallOptions): CallOptions {
  const header: ObservableMiddleware = {
    pre: (context) => {
      context.setHeaderParam('Content-Type', PatchStrategy.MergePatch);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { ...options, middleware: [...options.middleware, header] };
}

function k8sError(what: string, server: string, error: unknown, timedOutMs: number | undefined): PauseError {
  const status = error instanceof ApiException ? error.code : undefined;
  const why =
    timedOutMs !== undefined
      ? `no answer within ${timedOutMs} ms`
      : status !== undefined
        ? `HTTP ${status}`
        : error instanceof Error
          ? error.message
          : String(error);
  return new PauseError('K8S_API_FAILED', `Kubernetes API call failed: ${what}: ${why}.`, {
    context: { server, status },
    hint:
      status === 403
        ? 'The service account lacks a permission; see the Role in deploy/helm/stillpoint (docs/kubernetes.md).'
        : 'Check the kubeconfig (--kubeconfig), the namespace and that the API server is reachable.',
    cause: error,
  });
}

function toPodInfo(pod: V1Pod): PodInfo {
  const meta = pod.metadata ?? {};
  const restarts: Record<string, number> = {};
  for (const c of pod.status?.containerStatuses ?? []) restarts[c.name] = c.restartCount;
  const owner = meta.ownerReferences?.find((o) => o.controller) ?? meta.ownerReferences?.[0];
  return {
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    phase: pod.status?.phase ?? 'Unknown',
    ...(pod.status?.podIP ? { podIp: pod.status.podIP } : {}),
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    restarts,
    resourceVersion: meta.resourceVersion ?? '',
    labels: meta.labels ?? {},
    containerPorts: (pod.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort })),
    ),
    ...(owner ? { owner: { kind: owner.kind, name: owner.name } } : {}),
  };
}

function toServiceInfo(service: V1Service): ServiceInfo {
  return {
    name: service.metadata?.name ?? '',
    resourceVersion: service.metadata?.resourceVersion ?? '',
    ports: (service.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
    })),
  };
}

function toWorkloadInfo(kind: WorkloadKind, workload: V1Deployment | V1StatefulSet): WorkloadInfo {
  return {
    kind,
    name: workload.metadata?.name ?? '',
    resourceVersion: workload.metadata?.resourceVersion ?? '',
    replicas: workload.spec?.replicas ?? 1,
    readyReplicas: workload.status?.readyReplicas ?? 0,
    labels: workload.metadata?.labels ?? {},
    selector: workload.spec?.selector?.matchLabels ?? {},
  };
}
