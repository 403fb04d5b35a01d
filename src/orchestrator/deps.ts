/**
 * The real collaborators of the orchestrator: the gRPC pause client and the target resolvers
 * (addresses, DNS SRV; Kubernetes when src/k8s provides a resolver).
 */
import { createPauseClient } from '../pause/pause-client.ts';
import { createTargetResolver } from '../pause/targets.ts';
import type { PauseDeps } from './pause-phase.ts';

export function defaultPauseDeps(): PauseDeps {
  return {
    createPauseClient: (connection) => createPauseClient(connection),
    createResolver: (cluster) => createTargetResolver(cluster.dnsServers ? { dnsServers: cluster.dnsServers } : {}),
  };
}
