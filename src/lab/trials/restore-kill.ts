/**
 * The `restore-kill` fault: a complete backup is restored by `stillpoint restore` in its own process, which
 * is SIGKILLed after its k-th progress event (k drawn per trial: plan, checksums, a member part-way…); then
 * the SAME command is run again and must resume to a restored group that passes the checker (exit 0).
 * Both runs go to the same fresh targets, without --force: the CLI promises a re-run after a crash is safe.
 */
import type { MemberSpec, RestoreTarget } from '../../engines/contract.ts';
import { openCatalog } from '../../catalog/catalog.ts';
import type { TrialPlan } from './backup-process.ts';
import { startCli } from './cli-process.ts';
import type { Random } from './random.ts';

/** A restore that has not ended this long after its start is a violation: it hung. */
const RESTORE_TIMEOUT_MS = 300_000;

export interface RestoreKillResult {
  /** What was done, for the report. */
  readonly note: string;
  readonly violations: string[];
}

export async function restoreKilledAndResumed(
  plan: TrialPlan,
  backupId: string,
  restoreTarget: (member: MemberSpec) => RestoreTarget,
  random: Random,
): Promise<RestoreKillResult> {
  const catalog = openCatalog(plan.catalogPath);
  let members: MemberSpec[];
  try {
    members = catalog.get(backupId).members.map((m) => m.spec);
  } finally {
    catalog.close();
  }
  const args = [
    'restore',
    backupId,
    '--plan',
    plan.file,
    '--catalog',
    plan.catalogPath,
    '--invariants',
    'bank',
    '--json',
    ...members.flatMap((m) => ['--target', `${m.name}=${JSON.stringify(restoreTarget(m))}`]),
  ];
  const killAfter = random.int(1, 6);
  let seen = 0;
  let step = 'none';
  const first = startCli({
    args,
    onLine: (_line, json) => {
      if (json?.type !== 'restore') return;
      seen += 1;
      step = `${String(json.step)}${typeof json.member === 'string' ? ` ${json.member}` : ''}`;
      if (seen === killAfter) first.kill('SIGKILL');
    },
  });
  const ended = await timed(first.exited);
  if (ended === undefined) first.kill('SIGKILL');
  const killed = ended?.signal === 'SIGKILL';
  const note = killed
    ? `restore SIGKILLed after event ${killAfter} (${step}), run again`
    : `restore ended before event ${killAfter} (exit ${ended?.code ?? 'hung'}), run again`;
  const again = startCli({ args });
  const resumed = await timed(again.exited);
  if (resumed === undefined) {
    again.kill('SIGKILL');
    return { note, violations: [`the resumed restore did not end within ${RESTORE_TIMEOUT_MS} ms`] };
  }
  if (resumed.code === 0) return { note, violations: [] };
  const last = resumed.stdout.trim().split('\n').at(-1) ?? '';
  return {
    note,
    violations: [
      `the resumed restore exited ${resumed.code ?? resumed.signal}: ${(last || resumed.stderr.trim()).slice(-400)}`,
    ],
  };
}

async function timed<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>(
    (resolve) => (timer = setTimeout(() => resolve(undefined), RESTORE_TIMEOUT_MS)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
