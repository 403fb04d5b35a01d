/** A real DNS server on loopback (dns2's UDP server) answering SRV queries from a mutable table. */
import dns2 from 'dns2';

export interface SrvRecord {
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, for `Resolver.setServers` / `--dns-server`. */
  readonly address: string;
  /** SRV records by name (without the trailing dot); edit to simulate churn. */
  readonly records: Map<string, SrvRecord[]>;
  close(): Promise<void>;
}

export async function startDnsServer(records: Record<string, SrvRecord[]> = {}): Promise<TestDnsServer> {
  const table = new Map(Object.entries(records));
  const server = dns2.createUDPServer((request, send) => {
    const response = dns2.Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    const found = question ? table.get(question.name.replace(/\.$/, '')) : undefined;
    if (!question || question.type !== dns2.Packet.TYPE.SRV || !found) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      for (const record of found) {
        response.answers.push({
          name: question.name,
          type: dns2.Packet.TYPE.SRV,
          class: dns2.Packet.CLASS.IN,
          ttl: 1,
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
  return {
    address: `127.0.0.1:${port}`,
    records: table,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
