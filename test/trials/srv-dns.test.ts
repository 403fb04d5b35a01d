/** The trials' SRV server, read through the product's own resolver (node:dns over UDP). */
import { afterEach, describe, expect, it } from 'vitest';
import { asStillpointError } from '../../src/errors.ts';
import { resolveSrv } from '../../src/pause/targets.ts';
import { startDnsServer, type DnsServer } from '../../src/lab/trials/srv-dns.ts';

const NAME = '_admin._tcp.trial.test';

describe('trial SRV server', () => {
  let dns: DnsServer | undefined;
  afterEach(async () => dns?.close());

  it('answers the served name with the current entries, and sees a member join (TTL 0)', async () => {
    dns = await startDnsServer({
      [NAME]: [
        { target: '127.0.0.1', port: 4001 },
        { target: '127.0.0.1', port: 4002 },
      ],
    });
    const labels = async () =>
      (await resolveSrv(NAME, { servers: [dns!.address], timeoutMs: 2_000 })).map((t) => t.label).sort();
    expect(await labels()).toEqual(['127.0.0.1:4001', '127.0.0.1:4002']);
    dns.records.get(NAME)?.push({ target: '127.0.0.1', port: 4003 });
    expect(await labels()).toEqual(['127.0.0.1:4001', '127.0.0.1:4002', '127.0.0.1:4003']);
  });

  it('answers NXDOMAIN for another name', async () => {
    dns = await startDnsServer({ [NAME]: [{ target: '127.0.0.1', port: 4001 }] });
    const failed = await resolveSrv('_other._tcp.trial.test', {
      servers: [dns.address],
      timeoutMs: 2_000,
    }).catch((e: unknown) => asStillpointError(e));
    expect(failed).toMatchObject({ code: 'SRV_LOOKUP_FAILED' });
  });
});
