/**
 * A FAKE Azure CLI for the trials: an `az` script on PATH that answers `az account get-access-token` with
 * the token the Cosmos DB management fake accepts, and AZURE_TOKEN_CREDENTIALS=AzureCliCredential so the
 * product's DefaultAzureCredential takes that path at once (no managed-identity probe). Set in the runner's
 * own environment, it reaches the in-process restore check and every child process (backup, recovery) —
 * the product's real credential chain runs unchanged; only the CLI it shells out to is a stand-in.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AzCliFake {
  /** Puts the previous PATH and AZURE_TOKEN_CREDENTIALS back and removes the script. */
  uninstall(): Promise<void>;
}

export async function installAzCliFake(token: string): Promise<AzCliFake> {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-az-fake-'));
  const expiresOn = Math.floor(Date.now() / 1000) + 24 * 3600;
  const answer = JSON.stringify({ accessToken: token, expires_on: expiresOn, tokenType: 'Bearer' });
  await writeFile(join(dir, 'az'), `#!/bin/sh\nprintf '%s\\n' '${answer}'\n`, { mode: 0o700 });
  const before = { path: process.env.PATH, credentials: process.env.AZURE_TOKEN_CREDENTIALS };
  process.env.PATH = `${dir}:${before.path ?? ''}`;
  process.env.AZURE_TOKEN_CREDENTIALS = 'AzureCliCredential';
  return {
    async uninstall() {
      process.env.PATH = before.path;
      if (before.credentials === undefined) delete process.env.AZURE_TOKEN_CREDENTIALS;
      else process.env.AZURE_TOKEN_CREDENTIALS = before.credentials;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
