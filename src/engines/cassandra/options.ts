/** Options of a `cassandra` member and of its restore target. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { AgentClient, type AgentDeadlines, type AgentEndpoint } from '../../agent/client.ts';

const agentSchema = z.strictObject({
  /** `https://<node>:7400`: the `stillpoint agent` next to one Cassandra node. */
  url: z.url(),
  token: z.string().min(1).optional(),
  tokenEnv: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  /** PEM file of the CA that signed the agents' certificates. */
  caFile: z.string().min(1).optional(),
});

const deadlineMs = z.number().int().positive().optional();

export const cassandraOptionsSchema = z.strictObject({
  /** One agent per node of the cluster holding the member's keyspaces (every node: a snapshot is per node). */
  agents: z.array(agentSchema).min(1),
  /** Deadlines of the agent calls, ms, by kind (defaults: DEFAULT_AGENT_DEADLINES in src/agent/client.ts). */
  agentDeadlines: z
    .strictObject({
      statusMs: deadlineMs,
      snapshotMs: deadlineMs,
      listMs: deadlineMs,
      idleMs: deadlineMs,
      nodeMs: deadlineMs,
    })
    .optional(),
});
export type CassandraOptions = z.infer<typeof cassandraOptionsSchema>;

/** Restore target: import into new keyspaces `<namespace>_<suffix>` (a live cluster stays untouched). */
export const cassandraTargetSchema = z.strictObject({
  mode: z.literal('import').optional(),
  suffix: z
    .string()
    .regex(/^[a-z0-9_]{1,20}$/)
    .optional(),
});
export type CassandraTarget = z.infer<typeof cassandraTargetSchema>;

/**
 * Restore target `{ mode: cluster }`: the runbook's full-cluster restore IN PLACE (every node stopped, the
 * member's keyspaces replaced by the backup's files, every node started). Destructive.
 */
export const cassandraClusterTargetSchema = z.strictObject({
  mode: z.literal('cluster'),
  /** How long to wait for every node to be up and normal again (default 5 minutes). */
  readyTimeoutMs: z.number().int().positive().optional(),
});
export type CassandraClusterTarget = z.infer<typeof cassandraClusterTargetSchema>;

/** True when a raw restore target asks for the full-cluster restore. */
export function isClusterTarget(target: unknown): boolean {
  return typeof target === 'object' && target !== null && (target as { mode?: unknown }).mode === 'cluster';
}

/** One client per agent, with the member's deadlines. */
export function agentClients(options: CassandraOptions, member: string): AgentClient[] {
  const deadlines = Object.fromEntries(
    Object.entries(options.agentDeadlines ?? {}).filter(([, ms]) => ms !== undefined),
  ) as Partial<AgentDeadlines>;
  return agentEndpoints(options, member).map((e) => new AgentClient(e, deadlines));
}

/** The agents' endpoints with their tokens and CA read (tokenEnv / tokenFile / caFile). */
export function agentEndpoints(options: CassandraOptions, member: string): AgentEndpoint[] {
  return options.agents.map((a, i) => {
    let token = a.token;
    if (a.tokenEnv !== undefined) token = process.env[a.tokenEnv];
    if (a.tokenFile !== undefined) token = readFileSync(a.tokenFile, 'utf8').trim();
    if ((a.tokenEnv !== undefined || a.tokenFile !== undefined) && (token === undefined || token === '')) {
      throw new ConfigError(
        'PLAN_INVALID',
        `Member ${member}: agent ${a.url} has no token in ${a.tokenEnv ?? a.tokenFile}.`,
        {
          hint: 'Set the variable or write the file, or remove tokenEnv/tokenFile.',
          context: { member, key: `options.agents[${i}]` },
        },
      );
    }
    return {
      url: a.url,
      ...(token === undefined ? {} : { token }),
      ...(a.caFile === undefined ? {} : { ca: readFileSync(a.caFile) }),
    };
  });
}
