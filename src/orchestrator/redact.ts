/** Secret-bearing keys, masked in anything printed (`--json` output included). */
const SECRET_KEYS = new Set(['password', 'token', 'caPem', 'keyPem']);

/** A deep copy of `value` with every secret-bearing key's value replaced by `***`. */
export function redactSecrets<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (key, v: unknown) => (SECRET_KEYS.has(key) && v !== undefined && v !== null ? '***' : typeof v === 'bigint' ? v.toString() : v)),
  ) as T;
}
