/**
 * The credentials a restore target may carry. A new server may need other credentials than the member's;
 * absent, the member's are used. One rule for every engine: a target that names its own password source
 * (password, passwordEnv or passwordFile) replaces the member's password source as a whole, so a target's
 * `passwordFile` never combines with the member's `passwordEnv`.
 */
import { z } from 'zod';

/** The zod keys a target schema spreads in (all optional once the schema is `.partial()`). */
export const targetCredentialKeys = {
  user: z.string().min(1),
  password: z.string(),
  passwordEnv: z.string().min(1),
  passwordFile: z.string().min(1),
};

export type TargetCredentials = {
  readonly user: string;
  readonly password?: string;
  readonly passwordEnv?: string;
  readonly passwordFile?: string;
};

type PasswordSource = Pick<TargetCredentials, 'password' | 'passwordEnv' | 'passwordFile'>;

/** The target's user (else the member's) and its password source (else the member's), absent keys left out. */
export function resolveCredentials(
  member: Partial<TargetCredentials>,
  given: Partial<TargetCredentials>,
): Partial<TargetCredentials> {
  const own =
    given.password !== undefined || given.passwordEnv !== undefined || given.passwordFile !== undefined;
  const source: PasswordSource = own ? given : member;
  return dropUndefined({
    user: given.user ?? member.user,
    password: source.password,
    passwordEnv: source.passwordEnv,
    passwordFile: source.passwordFile,
  });
}

/** `value` without its undefined keys (exactOptionalPropertyTypes-friendly). */
export function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
