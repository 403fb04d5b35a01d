/**
 * The one place an {@link ArtifactStore} is created: from the URL (or plain path) recorded in a plan and in
 * every catalog row, so backup, restore, verify, retention and recovery all reach the same store the same
 * way, and a new kind of store is added here only.
 *
 * - `file:///abs/path` and a plain path (absolute, or relative to the cwd): a local directory.
 * - `s3://…`, `azblob://…`: recognised, refused with ARTIFACT_STORE_UNSUPPORTED until those stores exist.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { ArtifactStore } from './contract.ts';
import { createLocalDirStore } from './local-dir-store.ts';

/** Schemes that are planned (issue 12) but not implemented yet. */
const PLANNED_SCHEMES = new Set(['s3:', 'azblob:']);

export function openArtifactStore(location: string): ArtifactStore {
  const trimmed = location.trim();
  if (trimmed.length === 0) {
    throw new ConfigError('ARTIFACT_STORE_URL_INVALID', 'The artifact store location is empty.', {
      hint: 'Set the plan\'s artifacts directory to a path or a file:/// URL.',
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) return createLocalDirStore(trimmed);
  if (scheme === 'file:') {
    let path: string;
    try {
      path = fileURLToPath(trimmed);
    } catch (cause) {
      throw new ConfigError('ARTIFACT_STORE_URL_INVALID', `"${trimmed}" is not a valid file URL.`, {
        hint: 'Write a local store as file:///absolute/path (three slashes) or as a plain path.',
        cause,
      });
    }
    return createLocalDirStore(path);
  }
  if (PLANNED_SCHEMES.has(scheme)) {
    throw new ConfigError('ARTIFACT_STORE_UNSUPPORTED', `Artifact stores of kind ${scheme}// are not supported yet (${trimmed}).`, {
      context: { location: trimmed },
      hint: 'Use a local directory (a path or file:///path) for now; S3 and Azure Blob stores are planned.',
    });
  }
  throw new ConfigError('ARTIFACT_STORE_URL_INVALID', `Unknown artifact store scheme ${scheme}// in "${trimmed}".`, {
    context: { location: trimmed },
    hint: 'Use a path or a file:///absolute/path URL.',
  });
}
