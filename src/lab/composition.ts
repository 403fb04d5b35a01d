/**
 * The lab's parts for the CLI (src/main.ts passes them in): its commands, the bank data service every
 * `stillpoint node` serves, and the bank's application invariants.
 */
import type { CliComposition } from '../cli/composition.ts';
import { bankInvariants } from './bank/bank-invariants.ts';
import { register as demo } from './cli/demo.ts';
import { register as trials } from './cli/trials.ts';
import { register as workload } from './cli/workload.ts';

export const LAB_COMPOSITION: CliComposition = Object.freeze({
  commands: [demo, workload, trials],
  loadNodeServices: async () => [(await import('./bank/bank-service.ts')).bankNodeService],
  invariantPlugins: Object.freeze({ bank: bankInvariants }),
});
