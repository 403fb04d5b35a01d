/** Which DynamoDB tables a member holds, and polling helpers shared by capture and restore. */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../errors.ts';
import type { MemberSpec } from '../contract.ts';
import type { DynamoControlPlane, TableSettings } from './control-plane.ts';

export function memberPrefix(member: MemberSpec): string {
  return member.connection.kind === 'dynamodb' ? (member.connection.prefix ?? '') : '';
}

/** Physical tables of the member's namespaces plus its table catalog `<prefix>scalardb.metadata`. */
export async function memberTables(cp: DynamoControlPlane, member: MemberSpec): Promise<string[]> {
  const prefix = memberPrefix(member);
  const all = await cp.listTables(prefix);
  const wanted = [...member.namespaces, 'scalardb'].map((ns) => `${prefix}${ns}.`);
  return all.filter((t) => wanted.some((w) => t.startsWith(w))).sort();
}

/**
 * What a PITR restore drops or may not carry over (auto-scaling, TTL, tags, stream) and the capacity it
 * re-applies (billing mode, provisioned throughput), captured into the manifest at backup time.
 */
export async function tableSettings(cp: DynamoControlPlane, table: string): Promise<TableSettings> {
  const described = await cp.describeTable(table);
  const ttlAttribute = await cp.describeTimeToLive(table);
  return {
    table,
    billingMode: described?.billingMode ?? 'PAY_PER_REQUEST',
    ...(described?.readCapacity === undefined ? {} : { readCapacity: described.readCapacity }),
    ...(described?.writeCapacity === undefined ? {} : { writeCapacity: described.writeCapacity }),
    scalableTargets: await cp.describeScalableTargets(table),
    scalingPolicies: await cp.describeScalingPolicies(table),
    ...(ttlAttribute === undefined ? {} : { ttlAttribute }),
    tags: await cp.listTags(table),
    ...(described?.stream === undefined ? {} : { stream: described.stream }),
  };
}

export async function waitActive(
  cp: DynamoControlPlane,
  table: string,
  pollMs: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await cp.describeTable(table))?.status === 'ACTIVE') return;
    if (Date.now() > deadline) {
      throw new EngineError(
        'DYNAMODB_TABLE_NOT_ACTIVE',
        `DynamoDB table ${table} was not ACTIVE after ${timeoutMs} ms.`,
        {
          hint: 'Check the table in the console; re-run the restore to resume once it is ACTIVE.',
          context: { table },
        },
      );
    }
    await sleep(pollMs, undefined, { signal });
  }
}
