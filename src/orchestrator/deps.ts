/**
 * The real collaborators of the orchestrator: the gRPC pause client and the target resolvers
 * (addresses, DNS SRV, and Kubernetes releases through src/k8s).
 */
import type { TargetResolver } from '../pause/contract.ts';
import { createPauseClient } from '../pause/pause-client.ts';
import { createTargetResolver } from '../pause/targets.ts';
import type { PauseDeps } from './pause-phase.ts';

export function defaultPauseDeps(): PauseDeps {
  return {
    createPauseClient: (connection) => createPauseClient(connection),
    createResolver: (cluster) =>
      createTargetResolver({
        ...(cluster.dnsServers ? { dnsServers: cluster.dnsServers } : {}),
        kubernetes: lazyKubernetes(),
      }),
  };
}

/**
 * The Kubernetes resolver, loaded on first use: the Kubernetes client library is large, and plans
 * without `kubernetes` targets (and every other command) should not pay for loading it.
 */
function lazyKubernetes(): TargetResolver {
  let resolver: Promise<TargetResolver> | undefined;
  return {
    async resolve(source, signal) {
      resolver ??= import('../k8s/k8s-target-resolver.ts').then((m) =>
        m.createLazyKubernetesTargetResolver(),
      );
      return (await resolver).resolve(source, signal);
    },
  };
}
