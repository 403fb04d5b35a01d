/**
 * The one redaction helper: secrets never leave the process in anything printed (`--json` output included)
 * or stored (the catalog's member specs, restore plans). Use it for every such copy.
 */

/** Secret-bearing keys, masked wherever they occur. */
const SECRET_KEYS = new Set(['password', 'token', 'caPem', 'keyPem']);

/** A deep (JSON) copy of `value` with every secret-bearing key's value replaced by `***`; bigints become strings. */
export function redactSecrets<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (key, v: unknown) =>
      SECRET_KEYS.has(key) && v !== undefined && v !== null
        ? '***'
        : typeof v === 'bigint'
          ? v.toString()
          : v,
    ),
  ) as T;
}
