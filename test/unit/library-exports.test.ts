/**
 * The library entry point (src/index.ts, published as `stillpoint` through package.json `exports`) exposes
 * the public API: what the CLI is built from, and what docs/pause.md and docs/backup-and-restore.md show.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as stillpoint from '../../src/index.ts';

const FUNCTIONS = [
  // pause protocol
  'createGate',
  'withGate',
  'addAdminService',
  'startAdminServer',
  'createPauseClient',
  'createTargetResolver',
  'parseAddresses',
  'resolveSrv',
  // orchestrator
  'runBackup',
  'runRestore',
  'planRestore',
  'resumeIncomplete',
  'chooseMode',
  // plan, engines, catalog
  'loadPlan',
  'parsePlan',
  'getEngineKind',
  'registerEngineKind',
  'resolveMember',
  'engineKinds',
  'openCatalog',
  'openArtifactStore',
  'verifyBackup',
  'planPrune',
  'deleteBackups',
  // checker and transaction layer
  'checkGroup',
  'createTransactionManager',
  'openGroup',
  'sweep',
  'loadGroupConfig',
  // errors
  'asStillpointError',
  'exitCodeFor',
  'isRetryable',
] as const;

const CLASSES = [
  'StillpointError',
  'ConfigError',
  'PauseError',
  'EngineError',
  'CatalogError',
  'TransactionError',
  'InternalError',
] as const;

describe('library entry point', () => {
  it.each(FUNCTIONS)('exports %s as a function', (name) => {
    expect(typeof (stillpoint as Record<string, unknown>)[name]).toBe('function');
  });

  it.each(CLASSES)('exports the class %s', (name) => {
    const value = (stillpoint as Record<string, unknown>)[name];
    expect(typeof value).toBe('function');
    expect((value as { prototype: unknown }).prototype).toBeInstanceOf(Object);
  });

  it('exports the protocol constants with their wire values', () => {
    expect(stillpoint.LEASE_METADATA_KEY).toBe('stillpoint-lease-ms');
    expect(stillpoint.DEFAULT_MAX_PAUSE_WAIT_MS).toBe(30_000);
  });

  it('registers the built-in engines', () => {
    expect(stillpoint.engineKinds()).toEqual(expect.arrayContaining(['mariadb', 'postgres', 'sqlite']));
    const sqlite = stillpoint.getEngineKind('sqlite');
    expect(
      sqlite.capabilities(
        sqlite.parseOptions({
          name: 'a',
          engine: 'sqlite',
          connection: { kind: 'sqlite', path: '/tmp/a.db' },
          namespaces: [],
          options: {},
        }),
      ).atomicCapture,
    ).toBe(true);
  });

  it('is what package.json publishes: dist/index.js with its types', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      main: string;
      types: string;
      exports: Record<string, { types: string; default: string }>;
    };
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.main).toBe('dist/index.js');
    expect(pkg.types).toBe('dist/index.d.ts');
  });
});
