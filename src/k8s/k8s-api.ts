/**
 * The narrow Kubernetes API stillpoint needs: list a release's pods, read its headless service, find and
 * scale its workload. Two implementations exist: ./k8s-client-api.ts over @kubernetes/client-node (the real
 * one) and, in tests only, a fake API server that speaks the same HTTP API (so tests exercise the real
 * adapter too). Everything else in src/k8s/ is written against this interface.
 */

/** The workload kinds a Scalar Helm chart creates. */
export type WorkloadKind = 'Deployment' | 'StatefulSet';

/** One container port of a pod (to resolve a service's named `targetPort`). */
export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
}

/** What we read of a pod. */
export interface PodInfo {
  readonly name: string;
  readonly uid: string;
  /** `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`. */
  readonly phase: string;
  /** Absent until the pod is scheduled and has an IP. */
  readonly podIp?: string;
  /** The `Ready` condition is `True`. */
  readonly ready: boolean;
  /** Set when the pod is being deleted (it still lists until it is gone). */
  readonly deleting: boolean;
  /** Restart count per container name. */
  readonly restarts: Readonly<Record<string, number>>;
  readonly resourceVersion: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly containerPorts: readonly ContainerPort[];
  /** The controlling owner (a ReplicaSet for Deployments, the StatefulSet itself), when any. */
  readonly owner?: { readonly kind: string; readonly name: string };
}

export interface ServicePortInfo {
  readonly name?: string;
  readonly port: number;
  /** A number, a container port name, or absent (then it equals `port`). */
  readonly targetPort?: number | string;
}

export interface ServiceInfo {
  readonly name: string;
  readonly resourceVersion: string;
  readonly ports: readonly ServicePortInfo[];
}

export interface WorkloadInfo {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly resourceVersion: string;
  /** Desired replicas (`spec.replicas`, default 1). */
  readonly replicas: number;
  /** `status.readyReplicas` (0 when absent). */
  readonly readyReplicas: number;
  readonly labels: Readonly<Record<string, string>>;
  /** `spec.selector.matchLabels`: the labels of its pods (empty when the selector uses only expressions). */
  readonly selector: Readonly<Record<string, string>>;
}

/**
 * Every call takes a signal; the real adapter also applies its own per-call deadline. Each method is one API
 * call whose RBAC verb is fixed (listed per method): the chart's Role grants exactly these and a test checks
 * every call the code makes against it.
 */
export interface K8sApi {
  /** Pods in `namespace` matching `labelSelector` (`k=v,k2=v2`). RBAC: `list pods`. */
  listPods(namespace: string, labelSelector: string, signal?: AbortSignal): Promise<PodInfo[]>;
  /** Services in `namespace` matching `labelSelector`. RBAC: `list services`. */
  listServices(namespace: string, labelSelector: string, signal?: AbortSignal): Promise<ServiceInfo[]>;
  /** The service, or `undefined` when it does not exist (404). RBAC: `get services`. */
  getService(namespace: string, name: string, signal?: AbortSignal): Promise<ServiceInfo | undefined>;
  /** Deployments and StatefulSets in `namespace` matching `labelSelector` (`''`: all). RBAC: `list deployments, statefulsets`. */
  listWorkloads(namespace: string, labelSelector: string, signal?: AbortSignal): Promise<WorkloadInfo[]>;
  /** One workload; throws when it does not exist. RBAC: `get deployments` / `get statefulsets`. */
  getWorkload(
    namespace: string,
    kind: WorkloadKind,
    name: string,
    signal?: AbortSignal,
  ): Promise<WorkloadInfo>;
  /** Sets `spec.replicas` through the `scale` subresource (the only write stillpoint makes). RBAC: `patch deployments/scale` / `statefulsets/scale`. */
  scaleWorkload(
    namespace: string,
    kind: WorkloadKind,
    name: string,
    replicas: number,
    signal?: AbortSignal,
  ): Promise<void>;
}
