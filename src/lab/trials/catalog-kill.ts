/**
 * The `catalog-kill-midwrite` fault: SIGKILL of the backup process at the first write to its catalog seen
 * after the fault's moment (inotify on the catalog's directory: the SQLite file or its WAL changed), so the
 * process dies while, or right after, it writes a state transition. Then: the catalog must still open and
 * pass SQLite's integrity check, and recovery must classify the backup (./trial.ts checks that for every
 * killed orchestrator).
 */
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { openCatalog } from '../../catalog/catalog.ts';
import type { BackupRun } from './backup-process.ts';

/** Waits for the next write to `catalogPath` (or its -wal / -shm) and SIGKILLs `backup`; true when it did. */
export async function killAtCatalogWrite(catalogPath: string, backup: BackupRun): Promise<boolean> {
  const name = basename(catalogPath);
  let stop = (): void => undefined;
  const written = new Promise<true>((resolve) => {
    const watcher = watch(dirname(catalogPath), (_event, file) => {
      if (file !== null && file.startsWith(name) && backup.process.running) {
        backup.process.kill('SIGKILL');
        resolve(true);
      }
    });
    stop = () => watcher.close();
  });
  try {
    return await Promise.race([written, backup.exited.then(() => false)]);
  } finally {
    stop();
  }
}

/** Violations (sentences) when the catalog a killed backup left cannot be read whole. */
export function checkCatalogReadable(catalogPath: string): string[] {
  try {
    const db = new Database(catalogPath, { readonly: true });
    try {
      const result = db.pragma('integrity_check', { simple: true });
      if (result !== 'ok') return [`catalog integrity check after the kill: ${String(result)}`];
    } finally {
      db.close();
    }
    const catalog = openCatalog(catalogPath);
    try {
      catalog.list();
    } finally {
      catalog.close();
    }
    return [];
  } catch (error) {
    return [`catalog unreadable after the kill: ${(error as Error).message}`];
  }
}
