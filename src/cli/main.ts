#!/usr/bin/env node
/**
 * The `stillpoint` command line: a thin layer over the library. Each command lives in ./commands/<name>.ts
 * and registers itself on the program; see ./commands/index.ts.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { reportError } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('stillpoint')
    .description(
      'Transactionally-consistent backups and point-in-time restores of every database under a distributed\n' +
        'transaction layer (ScalarDB / ScalarDL style), with a checker that proves each restore.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors with 2 (scalar-admin's convention).
      return error.exitCode === 0 ? 0 : 2;
    }
    return reportError(error, argv.includes('--json'));
  }
}

process.exitCode = await main(process.argv);
