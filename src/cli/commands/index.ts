/**
 * Every CLI command, registered in the order `--help` lists them. One module per command (or family),
 * each exporting `register(program)`.
 */
import type { Command } from 'commander';

type Register = (program: Command) => void;

const modules: Register[] = [];

export function registerCommands(program: Command): void {
  for (const register of modules) register(program);
}
