/**
 * A DNS server on loopback (dns2's UDP server) answering SRV queries from a table the caller edits, so a
 * trial's plan finds its nodes the way a real deployment does (`targets: { srv, dnsServers }`) and a node
 * joining the service shows up in the next resolution (TTL 0): the orchestrator's membership check sees it.
 * Names not in the table get NXDOMAIN. The pause tests use it as their SRV server too.
 */
import dns2 from 'dns2';

export interface SrvRecord {
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

export interface DnsServer {
  /** `127.0.0.1:<port>`, for a plan's `dnsServers`, `Resolver.setServers` or `--dns-server`. */
  readonly address: string;
  /** SRV records by name (without the trailing dot); edit to add or remove members. */
  readonly records: Map<string, SrvRecord[]>;
  close(): Promise<void>;
}

export async function startDnsServer(records: Record<string, SrvRecord[]> = {}): Promise<DnsServer> {
  const table = new Map(Object.entries(records));
  const server = dns2.createUDPServer((request, send) => {
    const response = dns2.Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    const found = question ? table.get(question.name.replace(/\.$/, '').toLowerCase()) : undefined;
    if (!question || question.type !== dns2.Packet.TYPE.SRV || !found) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      for (const record of found) {
        response.answers.push({
          name: question.name,
          type: dns2.Packet.TYPE.SRV,
          class: dns2.Packet.CLASS.IN,
          ttl: 0,
          priority: record.priority ?? 0,
          weight: record.weight ?? 0,
          port: record.port,
          target: record.target,
        } as dns2.Packet.Resource);
      }
    }
    void send(response);
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.address();
  let closed: Promise<void> | undefined;
  return {
    address: `127.0.0.1:${port}`,
    records: table,
    close: () => (closed ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
