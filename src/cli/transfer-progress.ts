/**
 * The live line of long copies (issue 17): per member, bytes so far, rate and ETA, from the `transfer`
 * progress the orchestrator forwards (src/engines/contract.ts TransferProgress). Pure: the command decides
 * where the line goes (log-update on a terminal, a plain line now and then on a pipe).
 */
import type { TransferProgress } from '../engines/contract.ts';

interface MemberTransfer {
  phase: TransferProgress['phase'];
  startedAtMs: number;
  /** Per artifact key: bytes so far, total when known, finished. */
  readonly keys: Map<string, { done: number; total?: number; finished: boolean }>;
}

export class TransferTracker {
  private readonly members = new Map<string, MemberTransfer>();

  update(p: TransferProgress, nowMs = Date.now()): void {
    let m = this.members.get(p.member);
    if (m === undefined || m.phase !== p.phase) {
      m = { phase: p.phase, startedAtMs: nowMs, keys: new Map() };
      this.members.set(p.member, m);
    }
    m.keys.set(p.key, {
      done: p.bytesDone,
      ...(p.bytesTotal === undefined ? {} : { total: p.bytesTotal }),
      finished: p.done,
    });
  }

  /** `db: finish 12.3 MiB of 40.0 MiB, 5.1 MiB/s, ETA 6 s · other: …`; ETA only when every total is known. */
  line(nowMs = Date.now()): string {
    const parts: string[] = [];
    for (const [name, m] of this.members) {
      const keys = [...m.keys.values()];
      const done = keys.reduce((sum, k) => sum + k.done, 0);
      const allKnown = keys.every((k) => k.total !== undefined || k.finished);
      const total = allKnown ? keys.reduce((sum, k) => sum + (k.total ?? k.done), 0) : undefined;
      const seconds = (nowMs - m.startedAtMs) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      let text = `${name}: ${m.phase} ${formatBytes(done)}`;
      if (total !== undefined) text += ` of ${formatBytes(total)}`;
      if (rate > 0) text += `, ${formatBytes(rate)}/s`;
      if (keys.every((k) => k.finished)) text += ', done';
      else if (total !== undefined && rate > 0) text += `, ETA ${formatSeconds((total - done) / rate)}`;
      parts.push(text);
    }
    return parts.join(' · ');
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]!}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${Math.round(seconds % 60)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
