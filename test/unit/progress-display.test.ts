import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressDisplay } from '../../src/cli/output.ts';

function stream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  Object.assign(s, { isTTY, columns: 80, rows: 24 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

// eslint-disable-next-line no-control-regex
const plain = (t: string): string => t.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

describe('progress display', () => {
  it('on a terminal redraws the status line in place and keeps it below printed lines', async () => {
    const { stream: s, text } = stream(true);
    const display = await createProgressDisplay(s);
    display.status('workload: 1 committed');
    display.status('workload: 2 committed');
    display.line('» backup 1');
    display.done();
    const out = text();
    expect(out).toContain('\u001b['); // erased and redrawn, not appended
    expect(plain(out)).toContain('» backup 1');
    // After the line, the latest status is drawn again (and the stale one never is).
    expect(out.slice(out.indexOf('» backup 1'))).toContain('workload: 2 committed');
    expect(out.slice(out.indexOf('» backup 1'))).not.toContain('workload: 1 committed');
  });

  it('in a pipe prints plain lines and at most one status per interval', async () => {
    const { stream: s, text } = stream(false);
    const display = await createProgressDisplay(s, 60_000);
    display.status('workload: 1 committed');
    display.status('workload: 2 committed');
    display.line('» backup 1');
    display.done();
    expect(text()).toBe('workload: 1 committed\n» backup 1\n');
  });
});
