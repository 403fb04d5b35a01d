/**
 * The {@link TargetResolver} for `kubernetes` sources, handed to `createTargetResolver({ kubernetes })` in
 * src/pause/targets.ts. Each `resolve` reads the release afresh: targets are pod IPs with the admin port, the
 * membership covers pod names, phases, restart counts and resourceVersions and the workload's resourceVersion.
 *
 * A release with a pod that is not Running and Ready is refused (PauseError `K8S_POD_NOT_RUNNING`), also when resolving
 * after a window: a caller that cannot resolve the same membership afterwards must treat the window as invalid.
 */
import { ConfigError } from '../errors.ts';
import type { ResolvedTargets, TargetResolver, TargetSource } from '../pause/contract.ts';
import type { K8sApi } from './k8s-api.ts';
import { type K8sClientOptions, createK8sClientApi } from './k8s-client-api.ts';
import {
  type ReleaseRef,
  assertAllRunning,
  membershipOf,
  readRelease,
  rolloutRestartCommand,
  targetsOf,
} from './release.ts';

export function createKubernetesTargetResolver(api: K8sApi): TargetResolver {
  return {
    async resolve(source: TargetSource, signal?: AbortSignal): Promise<ResolvedTargets> {
      if (source.kind !== 'kubernetes') {
        throw new ConfigError(
          'K8S_SOURCE_INVALID',
          `The Kubernetes resolver cannot resolve a "${source.kind}" source.`,
          {
            hint: 'Use createTargetResolver() from src/pause/targets.ts, which routes each kind of source.',
          },
        );
      }
      const snapshot = await readRelease(api, refOf(source), signal);
      assertAllRunning(snapshot);
      return {
        targets: targetsOf(snapshot),
        membership: membershipOf(snapshot),
        unpauseFallback: rolloutRestartCommand(snapshot),
      };
    },
  };
}

/** The {@link ReleaseRef} of a plan's `kubernetes` source. */
export function refOf(source: Extract<TargetSource, { kind: 'kubernetes' }>): ReleaseRef {
  const workload =
    source.deployment !== undefined
      ? { kind: 'Deployment' as const, name: source.deployment }
      : source.statefulset !== undefined
        ? { kind: 'StatefulSet' as const, name: source.statefulset }
        : undefined;
  return {
    namespace: source.namespace,
    ...(source.release !== undefined ? { release: source.release } : {}),
    ...(source.product !== undefined ? { product: source.product } : {}),
    ...(workload !== undefined ? { workload } : {}),
    ...(source.selector !== undefined ? { selector: source.selector } : {}),
    ...(source.adminPort !== undefined ? { adminPort: source.adminPort } : {}),
  };
}

/**
 * The same resolver, creating the real API client on first use (so wiring it in costs nothing, and needs no
 * kubeconfig, when a plan has no `kubernetes` targets).
 */
export function createLazyKubernetesTargetResolver(options: K8sClientOptions = {}): TargetResolver {
  let resolver: TargetResolver | undefined;
  return {
    resolve(source, signal) {
      resolver ??= createKubernetesTargetResolver(createK8sClientApi(options));
      return resolver.resolve(source, signal);
    },
  };
}
