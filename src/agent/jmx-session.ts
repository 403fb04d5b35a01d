/**
 * One long-lived JMX client per agent (./jmx/StillpointJmx.java, run by `java` in source-file mode): the
 * snapshot inside the pause becomes one StorageService call over an open connection instead of a `nodetool`
 * JVM start (1.4–1.8 s on two cores). Commands are serialised (one line in, one line out). If the helper
 * cannot start or dies, callers fall back to nodetool (NodeOps).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'jmx', 'StillpointJmx.java');

export class JmxSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: ((line: string) => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly java = 'java',
  ) {}

  /**
   * Runs one command; resolves with the helper's milliseconds (the whole call first, then any parts it
   * measures: a snapshot's flush), rejects with its error line.
   */
  run(command: readonly string[], timeoutMs = 120_000): Promise<number[]> {
    const next = this.queue.then(() => this.send(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private send(command: readonly string[], timeoutMs: number): Promise<number[]> {
    const child = this.start();
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error(`JMX helper: no answer to ${command[0]} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(timer);
        if (line.startsWith('ok ')) resolve(line.slice(3).trim().split(/\s+/).map(Number));
        else reject(new Error(`JMX ${command[0]}: ${line.replace(/^err /, '')}`));
      });
      child.stdin.write(`${command.join(' ')}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child !== undefined && this.child.exitCode === null) return this.child;
    const child = spawn(this.java, ['-Xmx64m', '-XX:+UseSerialGC', SOURCE, this.host, String(this.port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr.resume();
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiting.splice(0)) w('err JMX helper exited');
    });
    child.once('error', (error) => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiting.splice(0)) w(`err JMX helper: ${error.message}`);
    });
    this.child = child;
    return child;
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGTERM');
  }
}
