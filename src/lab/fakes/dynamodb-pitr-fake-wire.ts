/**
 * Wire helpers of the DynamoDB PITR fake (./dynamodb-pitr-fake.ts): the AWS JSON protocol's answers and
 * errors as the SDK parses them, forwarding a request to dynalite, and item keys in the wire's JSON form.
 */
import { request, type IncomingMessage } from 'node:http';

/** An answer to send: status, JSON body, extra headers. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/** AWS JSON protocol 1.0 (DynamoDB) / 1.1 (Application Auto Scaling). */
export function jsonAnswer(body: unknown, contentType: string, status = 200): WireAnswer {
  return {
    status,
    headers: { 'content-type': contentType },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** A service error as the SDK reads it: `__type` names the exception class (after `#`), `message` says why. */
export class WireError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function errorAnswer(error: WireError, contentType: string): WireAnswer {
  return jsonAnswer(
    { __type: `com.amazonaws.dynamodb.v20120810#${error.type}`, message: error.message },
    contentType,
    error.status,
  );
}

/** Forwards a request, unchanged but for its body, to the server at `endpoint` and buffers its answer. */
export function forward(endpoint: string, req: IncomingMessage, body: Buffer): Promise<WireAnswer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const out = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: url.host, 'content-length': String(body.length) },
      },
      (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (d: Buffer) => parts.push(d));
        answer.on('end', () =>
          resolve({
            status: answer.statusCode ?? 500,
            headers: answer.headers as Record<string, string | string[]>,
            body: Buffer.concat(parts),
          }),
        );
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

/** An item (or key) in the wire's JSON form: `{ attr: { S: '…' } | { N: '…' } | { B: '<base64>' } }`. */
export type WireItem = Record<string, Record<string, unknown>>;

export function pickKey(item: WireItem, keys: readonly string[]): WireItem {
  const out: WireItem = {};
  for (const k of keys) if (item[k] !== undefined) out[k] = item[k];
  return out;
}

export function keyId(item: WireItem, keys: readonly string[]): string {
  return JSON.stringify(keys.map((k) => item[k] ?? null));
}

/** `arn:aws:dynamodb:<region>:<account>:table/<name>` → name (the fake keys tags by table). */
export function tableOfArn(arn: string): string {
  const at = arn.indexOf(':table/');
  if (at < 0) throw new WireError('ValidationException', `Invalid ResourceArn: ${arn}`);
  return arn.slice(at + ':table/'.length);
}

/** JSON protocol timestamps are epoch seconds (fractional). */
export const epochSeconds = (ms: number): number => ms / 1_000;

/** One call to dynalite in DynamoDB's JSON protocol (it checks a signature is present, not that it is right). */
export function dynaliteCall(
  endpoint: string,
  region: string,
  action: string,
  body: Record<string, unknown>,
): Promise<WireAnswer> {
  const url = new URL(endpoint);
  const payload = Buffer.from(JSON.stringify(body));
  const date = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
  return new Promise((resolve, reject) => {
    const out = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        agent: false,
        path: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': String(payload.length),
          'x-amz-target': `DynamoDB_20120810.${action}`,
          'x-amz-date': date,
          authorization: `AWS4-HMAC-SHA256 Credential=fake/${date.slice(0, 8)}/${region}/dynamodb/aws4_request, SignedHeaders=host, Signature=fake`,
        },
      },
      (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (d: Buffer) => parts.push(d));
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 500, headers: {}, body: Buffer.concat(parts) }),
        );
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(payload);
  });
}

/** {@link dynaliteCall}, its answer parsed; dynalite's error rethrown as a {@link WireError} of its type. */
export async function dynaliteOk(
  endpoint: string,
  region: string,
  action: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const answer = await dynaliteCall(endpoint, region, action, body);
  const parsed = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
  if (answer.status >= 300) {
    const type = typeof parsed.__type === 'string' ? parsed.__type : 'InternalServerError';
    const message = typeof parsed.message === 'string' ? parsed.message : '';
    throw new WireError(type.split('#').pop() ?? type, message, answer.status);
  }
  return parsed;
}
