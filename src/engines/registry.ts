/**
 * Engine registry: engine kind (the plan's `members[].engine`) → a factory. The orchestrator looks engines
 * up here and plans from their capabilities; it never branches on the kind.
 *
 * To add an engine: implement {@link Engine} in `src/engines/<kind>/<kind>-engine.ts` and add one entry
 * to `BUILT_IN` (or call {@link registerEngine} from an embedding application).
 */
import { ConfigError } from '../errors.ts';
import type { Engine } from './contract.ts';
import { createMariaDbEngine } from './mariadb/mariadb-engine.ts';
import { createPostgresEngine } from './postgres/postgres-engine.ts';
import { createSqliteEngine } from './sqlite/sqlite-engine.ts';

export type EngineFactory = () => Engine;

const BUILT_IN: ReadonlyArray<readonly [string, EngineFactory]> = [
  ['sqlite', createSqliteEngine],
  ['postgres', createPostgresEngine],
  ['mariadb', createMariaDbEngine],
];

const factories = new Map<string, EngineFactory>(BUILT_IN);
const instances = new Map<string, Engine>();

/** Registers (or replaces) an engine kind. */
export function registerEngine(kind: string, factory: EngineFactory): void {
  factories.set(kind, factory);
  instances.delete(kind);
}

/** The engine for `kind` (one instance per process); ConfigError `ENGINE_UNKNOWN` if none is registered. */
export function getEngine(kind: string): Engine {
  const existing = instances.get(kind);
  if (existing !== undefined) return existing;
  const factory = factories.get(kind);
  if (factory === undefined) {
    throw new ConfigError('ENGINE_UNKNOWN', `No backup engine "${kind}".`, {
      context: { engine: kind },
      hint: `Use one of: ${engineKinds().join(', ')}.`,
    });
  }
  const engine = factory();
  instances.set(kind, engine);
  return engine;
}

/** Registered engine kinds, sorted. */
export function engineKinds(): string[] {
  return [...factories.keys()].sort();
}
