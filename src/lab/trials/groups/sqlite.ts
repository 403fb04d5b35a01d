/** The `sqlite` trial group: three SQLite files in the trial's directory; nothing shared to start. */
import { join } from 'node:path';
import type { MemberSpec } from '../../../engines/contract.ts';
import { InternalError } from '../../../errors.ts';
import type { StorageConfig } from '../../../txn/contract.ts';
import type { TrialGroupKind } from '../group.ts';
import { restoreTarget } from './targets.ts';

export const sqliteGroup: TrialGroupKind = {
  name: 'sqlite',
  modes: ['snapshot', 'pause-window'],
  start: () =>
    Promise.resolve({
      create(dir) {
        const file = (name: string): StorageConfig => ({ kind: 'sqlite', path: join(dir, `${name}.db`) });
        const storages = { a: file('bank_a'), b: file('bank_b'), c: file('coordinator') };
        const member = (name: 'a' | 'b' | 'c', namespace: string): MemberSpec => ({
          name,
          engine: 'sqlite',
          connection: storages[name],
          namespaces: [namespace],
          options: {},
        });
        return Promise.resolve({
          kind: 'sqlite' as const,
          dir,
          group: { storages, namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' } },
          members: [member('a', 'bank_a'), member('b', 'bank_b'), member('c', 'coordinator')],
          proxies: new Map(),
          stopServer: () =>
            Promise.reject(
              new InternalError('TRIAL_NO_SERVER', 'an SQLite group has no database server to stop.'),
            ),
          close: () => Promise.resolve(),
        });
      },
      restoreTarget: (member, into, random) => restoreTarget(member, into, random),
      stop: () => Promise.resolve(),
    }),
};
