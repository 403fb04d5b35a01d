/**
 * How commands print: human text on a terminal, one JSON document (or NDJSON events) with `--json`.
 * Errors go to stderr with their stable code and hint; exit code 2 for usage/config errors, 1 otherwise.
 */
import { asStillpointError, exitCodeFor } from '../errors.ts';

/** Prints a result: JSON when `json`, else the human rendering. */
export function emit(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, jsonReplacer)}\n` : `${human()}\n`);
}

/** One NDJSON event line (machine-readable progress). */
export function emitEvent(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...event }, jsonReplacer)}\n`);
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Prints an error (stderr) and returns the exit code. */
export function reportError(error: unknown, json: boolean): number {
  const e = asStillpointError(error);
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: e.toJSON() }, jsonReplacer)}\n`);
  } else {
    process.stderr.write(`stillpoint: ${e.message}\n`);
    if (e.hint !== undefined) process.stderr.write(`  hint: ${e.hint}\n`);
    if (e.code === 'INTERNAL' && e.stack) process.stderr.write(`${e.stack}\n`);
  }
  return exitCodeFor(e);
}

/** Runs an action, turning any thrown error into a printed error and a non-zero exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const json = process.argv.includes('--json');
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (error) {
      process.exitCode = reportError(error, json);
    }
  };
}

/**
 * Progress for long commands. On a terminal, `status` is one line redrawn in place (log-update) and `line`
 * prints above it; elsewhere (a pipe, a CI log) both print plain lines, `status` at most every `plainEveryMs`.
 */
export interface ProgressDisplay {
  line(text: string): void;
  status(text: string): void;
  done(): void;
}

export async function createProgressDisplay(
  stream: NodeJS.WriteStream = process.stdout,
  plainEveryMs = 5_000,
): Promise<ProgressDisplay> {
  // A terminal that reports no width (some pseudo-terminals) gets plain lines: in-place redraws need it.
  if (stream.isTTY && (stream.columns ?? 0) > 0) {
    // Imported only for a terminal: log-update and its ANSI helpers cost ~0.3 s of start-up (issue 17).
    const { createLogUpdate } = await import('log-update');
    const update = createLogUpdate(stream);
    let current = '';
    return {
      line(text) {
        update.persist(`${text}\n`);
        if (current !== '') update(current);
      },
      status(text) {
        current = text;
        update(text);
      },
      done() {
        if (current === '') return; // idempotent: nothing drawn, or already cleared
        update.clear();
        update.done(); // shows the cursor again
        current = '';
      },
    };
  }
  let lastStatusAt = 0;
  return {
    line: (text) => stream.write(`${text}\n`),
    status(text) {
      if (Date.now() - lastStatusAt < plainEveryMs) return;
      lastStatusAt = Date.now();
      stream.write(`${text}\n`);
    },
    done: () => undefined,
  };
}
