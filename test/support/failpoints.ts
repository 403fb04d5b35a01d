/** Backup failpoints for tests (typed hooks passed to runBackup; see BackupFailpoints). */
import { EngineError } from '../../src/errors.ts';
import type { BackupFailpoints } from '../../src/orchestrator/backup.ts';

/** `member`'s capture fails as if its engine had thrown. */
export function failCapture(member: string): BackupFailpoints {
  return {
    beforeCapture: (name) => {
      if (name === member)
        throw new EngineError('CAPTURE_FAILED', `capture of ${name} failed (failpoint).`, {
          context: { member: name },
        });
    },
  };
}

/** `member`'s capture never ends (a database path gone silent). */
export function hangCapture(member: string): BackupFailpoints {
  return { beforeCapture: (name) => (name === member ? new Promise<never>(() => undefined) : undefined) };
}
