#!/usr/bin/env node
/**
 * The `stillpoint` executable and the composition root: the one file that puts the product (the CLI in
 * src/cli/) and the lab (src/lab/: demo, trials, workload, the bank node service and invariants) together.
 * Nothing in the product imports the lab (eslint.config.js); only this file does.
 */
import { runCli } from './cli/program.ts';
import { LAB_COMPOSITION } from './lab/composition.ts';

process.exitCode = await runCli(process.argv, LAB_COMPOSITION);
