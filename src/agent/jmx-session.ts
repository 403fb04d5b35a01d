/**
 * One long-lived JMX client per agent (./jmx/StillpointJmx.java, run by `java` in source-file mode): the
 * snapshot inside the pause becomes one StorageService call over an open connection instead of a `nodetool`
 * JVM start (1.4–1.8 s on two cores). Commands are serialised (one line in, one line out). If the helper
 * cannot start or dies, callers fall back to nodetool (NodeOps).
 *
 * A node that restarts under the agent: the helper checks its connection before each command and reconnects
 * (./jmx/StillpointJmx.java). A node that hangs (or a JMX call that never answers): the command's deadline
 * kills the helper (`AGENT_TIMEOUT`) and the next command starts a fresh one — a stuck helper must not hold
 * every later command in the queue.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../errors.ts';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'jmx', 'StillpointJmx.java');

/** Socket timeouts of Java RMI, ms: a connect or a reply on a half-dead connection never blocks forever. */
const RMI_CONNECT_TIMEOUT_MS = 10_000;

/** One helper process and the answers it still owes (its own: a killed helper's late line reaches no one). */
interface Helper {
  readonly child: ChildProcessWithoutNullStreams;
  readonly waiting: ((line: string) => void)[];
}

export class JmxSession {
  private helper: Helper | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** `replyTimeoutMs`: how long one JMX reply may take inside the helper (its RMI read timeout). */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly java = 'java',
    private readonly replyTimeoutMs = 300_000,
  ) {}

  /**
   * Runs one command; resolves with the words of the helper's answer (the whole call's milliseconds first,
   * then what the command reports: a snapshot's flush ms, a node's identity), rejects with its error line,
   * or with `AGENT_TIMEOUT` after `timeoutMs` (counted from when the command is sent, not while it waits
   * behind another).
   */
  run(command: readonly string[], timeoutMs = 120_000): Promise<string[]> {
    const next = this.queue.then(() => this.send(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private send(command: readonly string[], timeoutMs: number): Promise<string[]> {
    const helper = this.start();
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Hung on a dead or frozen node: a fresh helper (and connection) for the next command.
        this.kill(helper);
        reject(
          new EngineError('AGENT_TIMEOUT', `JMX helper: no answer to ${command[0]} in ${timeoutMs} ms.`, {
            hint: 'The Cassandra node may be restarting, paused or overloaded: check `nodetool status` there.',
            context: { command: command[0] ?? '', jmx: `${this.host}:${this.port}` },
          }),
        );
      }, timeoutMs);
      helper.waiting.push((line) => {
        clearTimeout(timer);
        if (line.startsWith('ok ')) resolve(line.slice(3).trim().split(/\s+/));
        else reject(new Error(`JMX ${command[0]}: ${line.replace(/^err /, '')}`));
      });
      helper.child.stdin.write(`${command.join(' ')}\n`);
    });
  }

  private start(): Helper {
    if (this.helper !== undefined && this.helper.child.exitCode === null) return this.helper;
    const child = spawn(
      this.java,
      [
        '-Xmx64m',
        '-XX:+UseSerialGC',
        `-Dsun.rmi.transport.proxy.connectTimeout=${RMI_CONNECT_TIMEOUT_MS}`,
        `-Dsun.rmi.transport.tcp.responseTimeout=${this.replyTimeoutMs}`,
        SOURCE,
        this.host,
        String(this.port),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const helper: Helper = { child, waiting: [] };
    const fail = (line: string): void => {
      if (this.helper === helper) this.helper = undefined;
      for (const w of helper.waiting.splice(0)) w(line);
    };
    child.stderr.resume();
    // A write to a helper that just died: its exit answers the command, the pipe's error must not crash us.
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => helper.waiting.shift()?.(line));
    child.once('exit', () => fail('err JMX helper exited'));
    child.once('error', (error) => fail(`err JMX helper: ${error.message}`));
    this.helper = helper;
    return helper;
  }

  private kill(helper: Helper): void {
    if (this.helper === helper) this.helper = undefined;
    helper.waiting.splice(0);
    helper.child.kill('SIGKILL');
  }

  close(): void {
    const helper = this.helper;
    this.helper = undefined;
    helper?.child.kill('SIGTERM');
  }
}
