import { isStillpointError } from '../../src/errors.ts';

/** The stable code the promise rejects with, or undefined when it resolves; any other error is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isStillpointError(error)) return error.code;
    throw error;
  }
}
