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
import type { EngineCapabilities, EngineKind, MemberSpec } from './contract.ts';
import { cosmosEngine } from './cosmos/engine.ts';
import { azureFlexibleEngine } from './azure-flexible/engine.ts';
import { cassandraEngine } from './cassandra/engine.ts';
import { dynamodbEngine } from './dynamodb/engine.ts';
import { mariadbEngine } from './mariadb/engine.ts';
import { postgresEngine } from './postgres/engine.ts';
import { rdsEngine } from './rds/engine.ts';
import { sqliteEngine } from './sqlite/engine.ts';

/** The options type is private to each kind: the registry hands a kind's parsed options back to it only. */
const erase = <O>(kind: EngineKind<O>): EngineKind<unknown> => kind;

const BUILT_IN: readonly EngineKind<unknown>[] = [
  erase(sqliteEngine),
  erase(postgresEngine),
  erase(mariadbEngine),
  erase(dynamodbEngine),
  erase(cosmosEngine),
  erase(rdsEngine),
  erase(azureFlexibleEngine),
  erase(cassandraEngine),
];

const kinds = new Map<string, EngineKind<unknown>>(BUILT_IN.map((k) => [k.kind, k]));

/** Registers (or replaces) an engine kind. */
export function registerEngineKind<O>(kind: EngineKind<O>): void {
  kinds.set(kind.kind, erase(kind));
}

/**
 * The engine kind registered under `kind`; ConfigError `ENGINE_UNKNOWN` if none is. The options type is
 * erased here: pass the kind's own `parseOptions` result back to it ({@link resolveMember} does).
 */
export function getEngineKind(kind: string): EngineKind<unknown> {
  const found = kinds.get(kind);
  if (found === undefined) {
    throw new ConfigError('ENGINE_UNKNOWN', `No backup engine "${kind}".`, {
      context: { engine: kind },
      hint: `Use one of: ${engineKinds().join(', ')}.`,
    });
  }
  return found;
}

/** A member with its engine kind resolved and its options parsed ONCE (ConfigError naming the member and key). */
export interface ResolvedMember {
  readonly spec: MemberSpec;
  readonly kind: EngineKind<unknown>;
  readonly options: unknown;
  readonly capabilities: EngineCapabilities;
}

export function resolveMember(spec: MemberSpec): ResolvedMember {
  const kind = getEngineKind(spec.engine);
  const options = kind.parseOptions(spec);
  return { spec, kind, options, capabilities: kind.capabilities(options) };
}

/** Registered engine kinds, sorted. */
export function engineKinds(): string[] {
  return [...kinds.keys()].sort();
}
