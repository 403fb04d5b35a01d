/**
 * How an azblob:// store authenticates: connection string, SAS, account key, else Microsoft Entra ID
 * through @azure/identity's DefaultAzureCredential. Azurite accepts only shared keys and SAS, so the
 * Entra ID path is checked by its selection and by the coded error when no identity exists on this host
 * (no Azure environment here), not against a server.
 */
import { describe, expect, it } from 'vitest';
import { azblobAuthFrom, createAzblobStore } from '../../src/artifacts/remote/azblob-store.ts';

const NO_AZURE_IDENTITY: NodeJS.ProcessEnv = {
  PATH: '/nonexistent', // no `az`, `azd` or `pwsh` to ask for a token
  HOME: '/nonexistent',
};

describe('azblob authentication selection', () => {
  it('connection string, then SAS, then account key, then Entra ID', () => {
    expect(azblobAuthFrom({ AZURE_STORAGE_CONNECTION_STRING: 'cs', AZURE_STORAGE_SAS_TOKEN: 's' }).kind).toBe(
      'connection-string',
    );
    expect(azblobAuthFrom({ STILLPOINT_AZBLOB_CONNECTION_STRING: 'cs' }).kind).toBe('connection-string');
    expect(azblobAuthFrom({ AZURE_STORAGE_SAS_TOKEN: '?sv=1&sig=x', AZURE_STORAGE_KEY: 'k' })).toEqual({
      kind: 'sas',
      sas: 'sv=1&sig=x',
    });
    expect(azblobAuthFrom({ AZURE_STORAGE_KEY: 'a2V5' })).toEqual({
      kind: 'account-key',
      accountKey: 'a2V5',
    });
    expect(azblobAuthFrom({ AZURE_STORAGE_CONNECTION_STRING: '', AZURE_STORAGE_SAS_TOKEN: '' }).kind).toBe(
      'entra-id',
    );
  });

  it('with no secret the store opens with DefaultAzureCredential; no identity is a coded error at first use', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env))
      if (k.startsWith('AZURE_') || k.startsWith('IDENTITY_') || k.startsWith('MSI_')) delete process.env[k];
    Object.assign(process.env, NO_AZURE_IDENTITY);
    try {
      const store = createAzblobStore('azblob://acct/c/p?endpoint=https%3A%2F%2F127.0.0.1%3A1', {});
      await expect(store.get('bk/x')).rejects.toMatchObject({
        code: 'ARTIFACT_STORE_CREDENTIALS_MISSING',
        hint: expect.stringMatching(/Entra ID/) as unknown,
      });
    } finally {
      process.env = saved;
    }
  }, 120_000);
});
