/**
 * The XML the RDS control-plane FAKE (./rds-control-plane-fake.ts) answers with: DBInstance and DBCluster
 * elements in the shape of the AWS Query protocol, as the AWS SDK parses them.
 */

/** What the fake knows about an instance or a cluster. */
export interface FakeRdsResource {
  id: string;
  engine: string;
  status: string;
  retentionDays: number;
  instanceClass?: string;
  parameterGroup?: string;
  subnetGroup?: string;
  securityGroupIds: string[];
  tags: { key: string; value: string }[];
  /** Source resources only: restorable from here (service clock). */
  earliestMs?: number;
  /** An instance in an Aurora cluster. */
  cluster?: string;
  server?: { readonly host: string; readonly port: number };
}

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const el = (name: string, body: string | number | undefined) =>
  body === undefined ? '' : `<${name}>${typeof body === 'number' ? body : esc(body)}</${name}>`;

const common = (r: FakeRdsResource, latestMs: number | undefined) =>
  [
    el('Engine', r.engine),
    el('BackupRetentionPeriod', r.retentionDays),
    r.earliestMs === undefined || r.retentionDays === 0 || latestMs === undefined
      ? ''
      : el('LatestRestorableTime', new Date(latestMs).toISOString()),
    `<VpcSecurityGroups>${r.securityGroupIds.map((g) => `<VpcSecurityGroupMembership>${el('VpcSecurityGroupId', g)}${el('Status', 'active')}</VpcSecurityGroupMembership>`).join('')}</VpcSecurityGroups>`,
    `<TagList>${r.tags.map((t) => `<Tag>${el('Key', t.key)}${el('Value', t.value)}</Tag>`).join('')}</TagList>`,
  ].join('');

/** `latestMs`: LatestRestorableTime (service clock), shown for sources only. */
export function instanceXml(i: FakeRdsResource, latestMs: number | undefined): string {
  return [
    '<DBInstance>',
    el('DBInstanceIdentifier', i.id),
    el('DBInstanceClass', i.instanceClass),
    el('DBInstanceStatus', i.status),
    el('DBClusterIdentifier', i.cluster),
    i.server === undefined || i.status !== 'available'
      ? ''
      : `<Endpoint>${el('Address', i.server.host)}${el('Port', i.server.port)}</Endpoint>`,
    common(i, latestMs),
    i.parameterGroup === undefined
      ? ''
      : `<DBParameterGroups><DBParameterGroup>${el('DBParameterGroupName', i.parameterGroup)}${el('ParameterApplyStatus', 'in-sync')}</DBParameterGroup></DBParameterGroups>`,
    i.subnetGroup === undefined
      ? ''
      : `<DBSubnetGroup>${el('DBSubnetGroupName', i.subnetGroup)}</DBSubnetGroup>`,
    '</DBInstance>',
  ].join('');
}

export function clusterXml(
  c: FakeRdsResource,
  members: readonly string[],
  latestMs: number | undefined,
): string {
  return [
    '<DBCluster>',
    el('DBClusterIdentifier', c.id),
    el('Status', c.status),
    c.server === undefined ? '' : el('Endpoint', c.server.host) + el('Port', c.server.port),
    common(c, latestMs),
    c.earliestMs === undefined ? '' : el('EarliestRestorableTime', new Date(c.earliestMs).toISOString()),
    el('DBClusterParameterGroup', c.parameterGroup),
    el('DBSubnetGroup', c.subnetGroup),
    `<DBClusterMembers>${members.map((m) => `<DBClusterMember>${el('DBInstanceIdentifier', m)}${el('IsClusterWriter', 'true')}</DBClusterMember>`).join('')}</DBClusterMembers>`,
    '</DBCluster>',
  ].join('');
}
