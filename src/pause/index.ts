/** The pause protocol's public API (see ./contract.ts). */
export * from './contract.ts';
export { createGate, stderrLog, type GateOptions, type PauseLog } from './gate.ts';
export {
  addAdminService,
  closeServer,
  startAdminServer,
  type AdminServerOptions,
  type AdminServiceOptions,
  type RunningAdminServer,
} from './admin-server.ts';
export { PAUSED_MESSAGE, withGate } from './grpc-gate.ts';
export { createPauseClient } from './pause-client.ts';
export { createTargetResolver, parseAddress, parseAddresses, resolveSrv, targetLabel } from './targets.ts';
export { ADMIN_PROTO_PATH, ADMIN_SERVICE_NAME, loadAdminProto } from './admin-proto.ts';
