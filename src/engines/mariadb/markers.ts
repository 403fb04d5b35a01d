/**
 * Restore markers: which backup a restore target holds and whether that restore finished. A logical target
 * database carries its marker as its COMMENT (`ALTER DATABASE … COMMENT`, MariaDB ≥ 10.5), so the marker
 * lives and dies with the database and adds no table to it; a PITR target directory carries it as
 * `stillpoint-restore.json`. `in-progress` is written before anything else changes; `markFinished` turns it
 * into `restored`, after which a re-run needs force (the target may have been written to since).
 */
import type { TargetInspection } from '../contract.ts';

export interface RestoreMarker {
  readonly backupId: string;
  readonly member: string;
  readonly state: 'in-progress' | 'restored';
}

const PREFIX = 'stillpoint-restore ';

export function encodeMarker(marker: RestoreMarker): string {
  return `${PREFIX}${JSON.stringify(marker)}`;
}

/** The marker in a database comment / marker file, or undefined when there is none (or it is not ours). */
export function decodeMarker(text: string | null | undefined): RestoreMarker | undefined {
  const raw = text?.startsWith(PREFIX)
    ? text.slice(PREFIX.length)
    : text?.trimStart().startsWith('{')
      ? text
      : undefined;
  if (raw === undefined) return undefined;
  try {
    const m = JSON.parse(raw) as Partial<RestoreMarker>;
    if (
      typeof m.backupId === 'string' &&
      typeof m.member === 'string' &&
      (m.state === 'in-progress' || m.state === 'restored')
    )
      return { backupId: m.backupId, member: m.member, state: m.state };
  } catch {
    // not a marker
  }
  return undefined;
}

type State = TargetInspection['state'];

/** How a target holding `contents` (and maybe a marker) relates to a restore of `backupId`/`member`. */
export function stateFromMarker(
  marker: RestoreMarker | undefined,
  backupId: string,
  member: string,
  hasContents: boolean,
): State {
  const ours = marker !== undefined && marker.backupId === backupId && marker.member === member;
  if (ours) return marker.state === 'restored' ? 'restored' : 'in-progress';
  return hasContents ? 'foreign' : 'empty';
}

const ORDER: readonly State[] = ['absent', 'empty', 'in-progress', 'restored', 'foreign', 'live-source'];

/** The state of a target made of several parts (databases): the one needing the most to proceed. */
export function worstState(states: readonly State[]): State {
  return states.reduce<State>((w, s) => (ORDER.indexOf(s) > ORDER.indexOf(w) ? s : w), 'absent');
}
