/**
 * Restore hooks for a Kubernetes release: before a restore, scale the release's Deployment/StatefulSet to zero
 * and wait until its pods are gone (nothing may write while the databases are replaced); after, scale back to
 * the replica count recorded before and wait until that many pods are Running and Ready.
 *
 * The recorded count lives in memory: if the process dies between the hooks, scale back by hand
 * (`stillpoint k8s scale-up --replicas N`).
 */
import { InternalError, PauseError } from '../errors.ts';
import type { K8sApi, PodInfo, WorkloadInfo } from './k8s-api.ts';
import { type ScalarProduct, detectProduct, productSelector } from './release.ts';

export interface RestoreHookOptions {
  readonly release: string;
  readonly namespace: string;
  /** Without it, taken from the release's pods' `app.kubernetes.io/app` label. */
  readonly product?: ScalarProduct;
  /** How long to wait for pods to go or become ready, ms. Default 300 000. */
  readonly timeoutMs?: number;
  /** Poll interval, ms. Default 1 000. */
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
}

/** Hook options with the product known. */
export type ScaleTarget = RestoreHookOptions & { readonly product: ScalarProduct };

export interface RestoreHooks {
  /** Scales to zero and waits until the pods are gone; records the replica count. */
  before(): Promise<void>;
  /** Scales back to the recorded count and waits for readiness. Throws if `before` did not run. */
  after(): Promise<void>;
}

export function createKubernetesRestoreHooks(api: K8sApi, options: RestoreHookOptions): RestoreHooks {
  let recorded: { workload: WorkloadInfo; replicas: number; product: ScalarProduct } | undefined;
  return {
    async before() {
      const product = options.product ?? (await detectProduct(api, options, options.signal));
      const workload = await findWorkload(api, { ...options, product });
      recorded = { workload, replicas: workload.replicas, product };
      await scaleAndWait(api, { ...options, product }, workload, 0);
    },
    async after() {
      if (!recorded) {
        throw new InternalError(
          'K8S_RESTORE_HOOK_ORDER',
          'The after-restore hook ran without the before-restore hook.',
          {
            context: { cluster: options.release },
          },
        );
      }
      await scaleAndWait(
        api,
        { ...options, product: recorded.product },
        recorded.workload,
        recorded.replicas,
      );
    },
  };
}

/** The release's single workload. Throws PauseError `K8S_WORKLOAD_AMBIGUOUS`. */
export async function findWorkload(api: K8sApi, options: ScaleTarget): Promise<WorkloadInfo> {
  const selector = productSelector(options.release, options.product);
  const workloads = await api.listWorkloads(options.namespace, selector, options.signal);
  if (workloads.length === 1) return workloads[0]!;
  throw new PauseError(
    'K8S_WORKLOAD_AMBIGUOUS',
    `Expected one Deployment or StatefulSet for release "${options.release}" (${selector}), found ${workloads.length}.`,
    {
      context: {
        cluster: options.release,
        namespace: options.namespace,
        workloads: workloads.map((w) => `${w.kind}/${w.name}`),
      },
      hint: 'Give --product to pick the product workload of the release.',
    },
  );
}

/** Scales `workload` to `replicas` and waits: for 0, until no pod is left; else until `replicas` pods are Ready. */
export async function scaleAndWait(
  api: K8sApi,
  options: ScaleTarget,
  workload: WorkloadInfo,
  replicas: number,
): Promise<void> {
  await api.scaleWorkload(options.namespace, workload.kind, workload.name, replicas, options.signal);
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  let last: PodInfo[] = [];
  while (Date.now() < deadline) {
    last = await api.listPods(
      options.namespace,
      productSelector(options.release, options.product),
      options.signal,
    );
    if (replicas === 0 ? last.length === 0 : isReady(last, replicas)) return;
    await delay(options.pollIntervalMs ?? 1_000, options.signal);
  }
  throw new PauseError(
    'K8S_SCALE_TIMEOUT',
    `${workload.kind} ${workload.name} did not reach ${replicas} ready replica(s) in ${options.timeoutMs ?? 300_000} ms (pods: ${describe(last)}).`,
    {
      context: { cluster: options.release, namespace: options.namespace, workload: workload.name, replicas },
      hint: 'Look at the pods (kubectl get pods, kubectl describe pod) and raise --timeout if they are only slow.',
    },
  );
}

function isReady(pods: readonly PodInfo[], replicas: number): boolean {
  const live = pods.filter((p) => !p.deleting);
  return live.length === replicas && live.every((p) => p.phase === 'Running' && p.ready);
}

function describe(pods: readonly PodInfo[]): string {
  if (pods.length === 0) return 'none';
  return pods
    .map((p) => `${p.name} ${p.phase}${p.ready ? ' ready' : ''}${p.deleting ? ' terminating' : ''}`)
    .join(', ');
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(
        new PauseError('K8S_SCALE_CANCELLED', 'Waiting for the workload was cancelled.', {
          cause: signal?.reason,
        }),
      );
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
