/**
 * One way to parse a member's engine options, for every engine: the connection kind the engine needs, then
 * `member.options` against the engine's zod schema (unknown keys refused, with a did-you-mean), parsed once
 * and frozen. Errors name the member, the key and the keys the engine accepts.
 */
import type { z } from 'zod';
import { closest } from '../did-you-mean.ts';
import { ConfigError } from '../errors.ts';
import type { StorageConfig } from '../txn/contract.ts';
import type { MemberSpec } from './contract.ts';

export interface OptionsSpec<S extends z.ZodObject> {
  readonly engine: string;
  readonly connectionKind: StorageConfig['kind'];
  readonly schema: S;
}

export function parseMemberOptions<S extends z.ZodObject>(
  member: MemberSpec,
  spec: OptionsSpec<S>,
): Readonly<z.infer<S>> {
  const context = { member: member.name, engine: spec.engine };
  if (member.connection.kind !== spec.connectionKind) {
    throw new ConfigError(
      'ENGINE_CONNECTION_INVALID',
      `Member ${member.name} uses the ${spec.engine} engine but a ${member.connection.kind} connection.`,
      {
        hint: `Give the member a connection with kind: ${spec.connectionKind}.`,
        context: { ...context, key: 'connection.kind' },
      },
    );
  }
  const parsed = spec.schema.safeParse(member.options);
  if (parsed.success) return Object.freeze(parsed.data);
  const issue = parsed.error.issues[0];
  const valid = Object.keys(spec.schema.shape);
  const path = issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
  if (issue?.code === 'unrecognized_keys') {
    const guesses = issue.keys.flatMap((k) => closest(k, valid) ?? []);
    throw new ConfigError(
      'ENGINE_OPTIONS_INVALID',
      `Member ${member.name}: unknown option(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}.`,
      {
        hint: `${guesses.length > 0 ? `Did you mean ${guesses.map((g) => `"${g}"`).join(', ')}? ` : ''}The ${spec.engine} engine accepts: ${valid.join(', ')}.`,
        context: { ...context, key: `options${path}` },
      },
    );
  }
  throw new ConfigError(
    'ENGINE_OPTIONS_INVALID',
    `Member ${member.name}: options${path} is invalid: ${issue?.message ?? 'invalid'}.`,
    {
      hint: `The ${spec.engine} engine accepts: ${valid.join(', ')} (see docs/backup-and-restore.md, Engines).`,
      context: { ...context, key: `options${path}` },
    },
  );
}
