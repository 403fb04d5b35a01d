/**
 * What the CLI's entry point (./main.ts, the composition root) plugs into the product commands. The product
 * never imports the lab (eslint `no-restricted-imports`); main.ts passes the lab's parts in through this.
 */
import type { Command } from 'commander';
import type { InvariantPlugins } from '../checker/invariants.ts';
import type { NodeService } from '../node/node-service.ts';

export interface CliComposition {
  /** More commands (the lab's `demo`, `workload`, `trials`), registered after the product's. */
  readonly commands: readonly ((program: Command) => void)[];
  /**
   * Data services `stillpoint node` serves behind the gate, besides the admin service. A loader, so that
   * commands other than `node` (and `--help`) never load them (gRPC service code).
   */
  readonly loadNodeServices: () => Promise<readonly NodeService[]>;
  /** Application invariants by name, for `--invariants` and a plan's `check.invariants`. */
  readonly invariantPlugins: InvariantPlugins;
}

/** The product alone: no extra commands, no data services, no application invariants. */
export const PRODUCT_ONLY: CliComposition = Object.freeze({
  commands: [],
  loadNodeServices: () => Promise.resolve([]),
  invariantPlugins: Object.freeze({}),
});
