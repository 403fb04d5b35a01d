/**
 * Engine registry: engine kind (the plan's `members[].engine`) → its {@link EngineKind}. The orchestrator
 * looks kinds up here, parses each member's options once, and plans from the capabilities derived from
 * them; it never branches on the kind.
 *
 * To add an engine: implement {@link EngineKind} in `src/engines/<kind>/engine.ts` (strategies in
 * `<kind>/<strategy>/{capture,restore}.ts`) and add one entry to `BUILT_IN` (or call
 * {@link registerEngineKind} from an embedding application).
 */
import { ConfigError } from '../errors.ts';
import type { EngineKind } from './contract.ts';
import { mariadbEngine } from './mariadb/engine.ts';
import { postgresEngine } from './postgres/engine.ts';
import { sqliteEngine } from './sqlite/engine.ts';

const BUILT_IN: readonly EngineKind<never>[] = [sqliteEngine, postgresEngine, mariadbEngine];

const kinds = new Map<string, EngineKind<never>>(BUILT_IN.map((k) => [k.kind, k]));

/** Registers (or replaces) an engine kind. */
export function registerEngineKind<O>(kind: EngineKind<O>): void {
  kinds.set(kind.kind, kind as unknown as EngineKind<never>);
}

/**
 * The engine kind registered under `kind`; ConfigError `ENGINE_UNKNOWN` if none is. The options type is
 * erased here: pass the kind's own `parseOptions` result back to it.
 */
export function getEngineKind(kind: string): EngineKind<unknown> {
  const found = kinds.get(kind);
  if (found === undefined) {
    throw new ConfigError('ENGINE_UNKNOWN', `No backup engine "${kind}".`, {
      context: { engine: kind },
      hint: `Use one of: ${engineKinds().join(', ')}.`,
    });
  }
  return found as unknown as EngineKind<unknown>;
}

/** Registered engine kinds, sorted. */
export function engineKinds(): string[] {
  return [...kinds.keys()].sort();
}
