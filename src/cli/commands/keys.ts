/**
 * `stillpoint keys rotate`: rewraps every encrypted artifact's data key (and every manifest) of the backups
 * in the catalog under a new key-encryption key, without re-encrypting the data (../../catalog/rotate-keys.ts).
 * The old keys must still be usable for the run: STILLPOINT_KEK / STILLPOINT_KEK_FILE for `local:` ids,
 * KMS access for `kms:` ids. Afterwards point new backups at the new key (the store URL's `key=` for KMS,
 * STILLPOINT_KEK_FILE for a local key) and the old one can be retired.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { KeyProvider } from '../../artifacts/encoding/key-providers.ts';
import { ConfigError } from '../../errors.ts';
import { action, emit } from '../output.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface RotateFlags extends CatalogFlags {
  toKms?: string;
  toKeyFile?: string;
  kmsEndpoint?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  const keys = program.command('keys').summary('manage the keys that encrypt artifacts');
  keys
    .command('rotate')
    .summary('rewrap every artifact data key under a new key (no data re-encrypted)')
    .description(
      'Rewrite the header of every encrypted artifact and manifest of the finished backups in the catalog so that its data key is wrapped by the new key (KMS to KMS through ReEncrypt). Resumable: run it again after an interruption. Backups still running are skipped (listed). The old key must be reachable for the run.',
    )
    .option('--catalog <file>', 'catalog database')
    .option('--plan <file>', 'read the catalog path from this plan')
    .option('--to-kms <arn>', 'the KMS key to rotate to (its full ARN)')
    .option(
      '--to-key-file <file>',
      'a file holding the new local key (64 hex characters or base64 of 32 bytes)',
    )
    .option('--kms-endpoint <url>', 'KMS endpoint for --to-kms (default: AWS_ENDPOINT_URL_KMS, else AWS)')
    .option('--dry-run', 'only report what would be rotated (reads object headers, writes nothing)')
    .option('--json', 'one JSON report')
    .action(
      action(async (flags: RotateFlags) => {
        // Loaded when the command runs (the KMS SDK, the stores): `--help` stays fast.
        const target = await targetKey(flags);
        const { rotateKeys } = await import('../../catalog/rotate-keys.ts');
        const catalog = await openCatalogFrom(flags);
        try {
          const r = await rotateKeys(catalog, {
            target,
            dryRun: flags.dryRun === true,
            ...(flags.json === true
              ? {}
              : { onObject: (o) => process.stderr.write(`  ${o.outcome.padEnd(18)} ${o.key}\n`) }),
          });
          emit(flags.json === true, r, () =>
            [
              `${r.dryRun ? 'would rotate' : 'rotated'} to ${r.targetKeyId}:`,
              ...Object.entries(r.counts).map(([k, n]) => `  ${k.padEnd(18)} ${n}`),
              ...(r.skippedRunning.length > 0
                ? [`  skipped (still running): ${r.skippedRunning.join(', ')}; run again once they end`]
                : []),
            ].join('\n'),
          );
          return 0;
        } finally {
          catalog.close();
        }
      }),
    );
}

async function targetKey(flags: RotateFlags): Promise<KeyProvider> {
  if ((flags.toKms === undefined) === (flags.toKeyFile === undefined)) {
    throw new ConfigError(
      'KEYS_ROTATE_TARGET_MISSING',
      'keys rotate needs exactly one of --to-kms or --to-key-file.',
      {
        hint: 'For example: `stillpoint keys rotate --to-kms arn:aws:kms:eu-west-1:111122223333:key/…` or `--to-key-file new.kek`.',
      },
    );
  }
  if (flags.toKms !== undefined) {
    const { kmsKeyProvider } = await import('../../artifacts/encoding/kms-provider.ts');
    return kmsKeyProvider(
      flags.toKms,
      flags.kmsEndpoint !== undefined ? { endpoint: flags.kmsEndpoint } : {},
    );
  }
  let text: string;
  try {
    text = readFileSync(flags.toKeyFile as string, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      'ENCRYPTION_KEY_MISSING',
      `The new key file ${String(flags.toKeyFile)} cannot be read.`,
      {
        hint: 'Check the path and that the file is readable by this user (mode 0600).',
        cause,
      },
    );
  }
  const { keyProviderFromEnv } = await import('../../artifacts/encoding/key-providers.ts');
  const provider = keyProviderFromEnv({ STILLPOINT_KEK: text });
  if (provider === undefined) {
    throw new ConfigError('ENCRYPTION_KEY_MISSING', `The new key file ${String(flags.toKeyFile)} is empty.`, {
      hint: 'Generate a key with `openssl rand -hex 32 > new.kek` (mode 0600).',
    });
  }
  return provider;
}
