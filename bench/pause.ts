/**
 * Pause protocol benchmarks.
 * - Gate overhead: the same trivial unary handler served twice on one gRPC server, once behind `withGate` and
 *   once bare; a client on loopback alternates rounds of calls to each (real gRPC, 16 calls in flight).
 *   Ratio of median round times, gated / bare (goal ≤ 1.01). Also the in-process cost of enter+release.
 * - Pause latency: `pauseAll` (wait_outstanding) over 1, 8 and 64 admin servers running in a worker thread,
 *   median of several rounds, as a ratio to one target (goal: 64 ≤ 2× one): once with idle servers (pure
 *   protocol cost: on loopback a round trip is ~0.3 ms, so the client's CPU per target dominates), once with
 *   servers busy with 20 ms transactions (each pause drains one; the drains run in parallel).
 */
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { closeServer } from '../src/pause/admin-server.ts';
import { createGate } from '../src/pause/gate.ts';
import { withGate } from '../src/pause/grpc-gate.ts';
import { createPauseClient } from '../src/pause/pause-client.ts';
import { parseAddress } from '../src/pause/targets.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const quiet = (): void => undefined;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const bytes = (b: Buffer): Buffer => b;
function method(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  };
}

async function gateOverhead(quick: boolean): Promise<BenchRow[]> {
  const gate = createGate({ log: quiet });
  const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => callback(null, call.request);
  const server = new grpc.Server();
  server.addService(
    { Bare: method('/bench.Data/Bare'), Gated: method('/bench.Data/Gated') },
    { Bare: echo, Gated: withGate(gate, echo) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const payload = Buffer.from('x'.repeat(64));
  const call = (path: string) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        bytes,
        bytes,
        payload,
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
  const callsPerRound = quick ? 400 : 2_000;
  const inFlight = 16;
  const round = async (path: string): Promise<number> => {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < callsPerRound) await call(path);
      }),
    );
    return performance.now() - started;
  };
  try {
    await round('/bench.Data/Bare'); // warm-up: connection, JIT
    await round('/bench.Data/Gated');
    const bare: number[] = [];
    const gated: number[] = [];
    const rounds = quick ? 5 : 15;
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first so drift on a shared machine hits both sides alike.
      if (i % 2 === 0) {
        bare.push(await round('/bench.Data/Bare'));
        gated.push(await round('/bench.Data/Gated'));
      } else {
        gated.push(await round('/bench.Data/Gated'));
        bare.push(await round('/bench.Data/Bare'));
      }
    }
    const ratio = median(gated) / median(bare);
    const perCallUs = (median(bare) * 1000) / callsPerRound;
    return [
      {
        metric: 'gate overhead per request, real gRPC unary on loopback (gated / bare)',
        value: `${ratio.toFixed(3)}×`,
        goal: '≤ 1.01×',
        met: ratio <= 1.01,
        note: `median of ${rounds} alternating rounds × ${callsPerRound} calls, ${inFlight} in flight; bare ≈ ${perCallUs.toFixed(1)} µs/call`,
      },
      await inProcessGateCost(quick),
    ];
  } finally {
    client.close();
    await closeServer(server);
  }
}

async function inProcessGateCost(quick: boolean): Promise<BenchRow> {
  const gate = createGate({ log: quiet });
  const n = quick ? 200_000 : 1_000_000;
  const started = performance.now();
  for (let i = 0; i < n; i++) (await gate.enter()).release();
  const elapsedNs = ((performance.now() - started) * 1e6) / n;
  return {
    metric: 'gate enter + release, in-process (awaited)',
    value: `${elapsedNs.toFixed(0)} ns`,
    goal: '—',
    note: 'for scale against a gRPC call (tens of µs)',
  };
}

/**
 * Pause latency over 1, 8 and 64 targets: 64 admin servers in a worker thread (their own event loop), the
 * client on the main thread. With `txMs`, every server runs back-to-back transactions of that length, so each
 * pause waits for a real drain (what dominates a production pause).
 */
async function pauseLatency(quick: boolean, txMs: number): Promise<BenchRow[]> {
  const sizes = [1, 8, 64];
  // The worker is TypeScript too: it registers tsx's loader, then imports the worker module (on Node 20,
  // `execArgv: ['--import', 'tsx']` does not reach a worker's entry file: "Unknown file extension .ts").
  const entry = new URL('./pause-servers-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    {
      eval: true,
      workerData: { count: 64, txMs },
    },
  );
  const client = createPauseClient();
  const rounds = quick ? 5 : 15;
  const setting = txMs > 0 ? `each server busy with ${txMs} ms transactions` : 'idle servers';
  try {
    const [addresses] = (await once(worker, 'message')) as [string[]];
    const all = addresses.map((a) => parseAddress(a));
    const group = await client.pauseAll(all); // warm-up: every channel connected
    await group.unpause();
    const medians = new Map<number, number>();
    for (const size of sizes) {
      const targets = all.slice(0, size);
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const started = performance.now();
        const paused = await client.pauseAll(targets);
        times.push(performance.now() - started);
        await paused.unpause();
      }
      medians.set(size, median(times));
    }
    const one = medians.get(1)!;
    return sizes.map((size) => {
      const ms = medians.get(size)!;
      const ratio = ms / one;
      return {
        metric: `pause latency, ${size} target${size === 1 ? '' : 's'} / 1 target, ${setting}`,
        value: `${ratio.toFixed(2)}× (${ms.toFixed(2)} ms)`,
        goal: size === 64 ? '≤ 2×' : '—',
        ...(size === 64 ? { met: ratio <= 2 } : {}),
        note: `median of ${rounds}; servers in a worker thread on loopback, client on the main thread`,
      };
    });
  } finally {
    client.close();
    worker.postMessage('stop');
    await once(worker, 'exit');
  }
}

export const benchmarks: readonly Benchmark[] = [
  { name: 'pause-gate-overhead', run: ({ quick }) => gateOverhead(quick) },
  {
    name: 'pause-latency',
    run: async ({ quick }) => [...(await pauseLatency(quick, 0)), ...(await pauseLatency(quick, 20))],
  },
];
