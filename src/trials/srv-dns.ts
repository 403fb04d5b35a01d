/**
 * A DNS server on loopback (UDP) answering SRV queries for one name from a list the runner edits, so a
 * trial's plan can find its nodes the way a real deployment does (`targets: { srv, dnsServers }`) and a
 * node joining the service shows up in the next resolution: the orchestrator's membership check sees it.
 * Only what the resolver needs: one question, SRV answers (TTL 0) or NXDOMAIN.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { InternalError } from '../errors.ts';

export interface SrvEntry {
  readonly host: string;
  readonly port: number;
}

export interface SrvDns {
  /** `127.0.0.1:<port>`, for a plan's `dnsServers`. */
  readonly address: string;
  /** The SRV name served (e.g. `_admin._tcp.trial.test`). */
  readonly name: string;
  /** The current answer; edit to add or remove members. */
  readonly entries: SrvEntry[];
  close(): Promise<void>;
}

const TYPE_SRV = 33;
const CLASS_IN = 1;

/** Starts the server for `name` with the given entries. */
export async function startSrvDns(name: string, entries: readonly SrvEntry[]): Promise<SrvDns> {
  const socket = createSocket('udp4');
  const table: SrvEntry[] = [...entries];
  const wanted = name.toLowerCase().replace(/\.$/, '');
  socket.on('message', (message: Buffer, peer: RemoteInfo) => {
    const reply = answer(message, wanted, table);
    if (reply !== undefined) socket.send(reply, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  let closed = false;
  return {
    address: `127.0.0.1:${port}`,
    name,
    entries: table,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/** The response to one query, or undefined for a packet that is not a well-formed single question. */
export function answer(query: Buffer, name: string, entries: readonly SrvEntry[]): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) < 1) return undefined;
  const parsed = readName(query, 12);
  if (parsed === undefined || parsed.end + 4 > query.length) return undefined;
  const type = query.readUInt16BE(parsed.end);
  const question = query.subarray(12, parsed.end + 4);
  const found = parsed.name === name && type === TYPE_SRV;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, the client's RD; RCODE 3 (NXDOMAIN) when the name or type is not served.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (found ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(found ? entries.length : 0, 6);
  if (!found) return Buffer.concat([header, question]);
  const records = entries.map((e) => {
    const target = encodeName(e.host);
    const fixed = Buffer.alloc(18);
    fixed.writeUInt16BE(0xc00c, 0); // name: pointer to the question's
    fixed.writeUInt16BE(TYPE_SRV, 2);
    fixed.writeUInt16BE(CLASS_IN, 4);
    fixed.writeUInt32BE(0, 6); // TTL 0: every resolution asks again
    fixed.writeUInt16BE(6 + target.length, 10);
    fixed.writeUInt16BE(0, 12); // priority
    fixed.writeUInt16BE(0, 14); // weight
    fixed.writeUInt16BE(e.port, 16);
    return Buffer.concat([fixed, target]);
  });
  return Buffer.concat([header, question, ...records]);
}

function readName(packet: Buffer, start: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let at = start;
  for (;;) {
    if (at >= packet.length) return undefined;
    const length = packet[at]!;
    if (length === 0) return { name: labels.join('.').toLowerCase(), end: at + 1 };
    // A question name is never compressed; anything else is not a query this server answers.
    if (length > 63 || at + 1 + length > packet.length) return undefined;
    labels.push(packet.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
}

function encodeName(host: string): Buffer {
  const parts = host.replace(/\.$/, '').split('.');
  if (parts.some((p) => p.length === 0 || p.length > 63)) {
    throw new InternalError('SRV_NAME_INVALID', `"${host}" is not a DNS name.`, { context: { host } });
  }
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}
