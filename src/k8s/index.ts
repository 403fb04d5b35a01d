/** Kubernetes support's public API (see docs/kubernetes.md). */
export type { K8sApi, PodInfo, ServiceInfo, WorkloadInfo, WorkloadKind } from './k8s-api.ts';
export { createK8sClientApi, loadKubeConfig, type K8sClientOptions } from './k8s-client-api.ts';
export { createKubernetesTargetResolver, createLazyKubernetesTargetResolver } from './k8s-target-resolver.ts';
export {
  localDateTime,
  pauseRelease,
  wrapperJson,
  type K8sPauseEvent,
  type K8sPauseOptions,
  type K8sPauseResult,
  type K8sReleaseResult,
} from './k8s-pause.ts';
export {
  PRODUCTS,
  chartFullname,
  findHeadlessService,
  parseProduct,
  readRelease,
  rolloutRestartCommand,
  srvNameFor,
  type ReleaseRef,
  type ReleaseSnapshot,
  type ScalarProduct,
} from './release.ts';
export { createKubernetesRestoreHooks, type RestoreHookOptions, type RestoreHooks } from './restore-hooks.ts';
