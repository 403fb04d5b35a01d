/**
 * Connections opened BEFORE the pause (in `prepare`) and taken by `capture` inside it, so the pause does not
 * pay for TCP setup, authentication and (PostgreSQL) a backend fork. Keyed by backup id and member. A
 * connection nobody takes (the backup failed before capture) is closed after `ttlMs`.
 */
export class ConnectionStash<T> {
  private readonly entries = new Map<string, { value: T; timer: NodeJS.Timeout }>();

  /** @param close closes one stashed value; must not throw. @param ttlMs default 10 minutes. */
  constructor(
    private readonly close: (value: T) => Promise<void>,
    private readonly ttlMs = 10 * 60_000,
  ) {}

  /** Stashes `value` under `key`, closing whatever was stashed there before. */
  put(key: string, value: T): void {
    const old = this.entries.get(key);
    if (old) {
      clearTimeout(old.timer);
      void this.close(old.value);
    }
    const timer = setTimeout(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
      void this.close(value);
    }, this.ttlMs);
    timer.unref();
    this.entries.set(key, { value, timer });
  }

  /** Closes the value stashed under `key`, if any, waiting `graceMs` at most. Never throws. */
  async discard(key: string, graceMs = 5_000): Promise<void> {
    const value = this.take(key);
    if (value !== undefined) await graceful(this.close(value), graceMs).catch(() => undefined);
  }

  /** Removes and returns the value stashed under `key`, if any. */
  take(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.entries.delete(key);
    return entry.value;
  }
}

export const stashKey = (backupId: string, member: string): string => `${backupId}\u0000${member}`;

/** Waits for `work`, or `ms` at most (then leaves it running): for polite closes that must not hang. */
export async function graceful(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
