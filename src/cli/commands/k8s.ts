/**
 * `stillpoint k8s pause | scale-down | scale-up`: the Kubernetes procedures of src/k8s/ from the command line.
 *
 * `k8s pause` replaces scalar-admin-for-kubernetes (same flags, same one-line JSON result with extra fields) and
 * the manual pod checks of the Scalar docs: it refuses a release with a pod not Running, pauses every pod by IP,
 * holds, always unpauses (also on Ctrl-C), and retries when pods changed during the window.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { createK8sClientApi } from '../../k8s/k8s-client-api.ts';
import { type K8sPauseEvent, pauseRelease, wrapperJson } from '../../k8s/k8s-pause.ts';
import { type ScalarProduct, parseProduct, detectProduct } from '../../k8s/release.ts';
import { findWorkload, scaleAndWait } from '../../k8s/restore-hooks.ts';
import { createPauseClient } from '../../pause/pause-client.ts';
import { action, emit } from '../output.ts';
import { type ConnectionFlags, connectionOptions, parseMillis } from '../pause-options.ts';

interface ReleaseFlags {
  readonly release: string;
  readonly namespace: string;
  readonly product?: string;
  readonly kubeconfig?: string;
  readonly json?: boolean;
}

interface PauseFlags extends ReleaseFlags, Omit<ConnectionFlags, 'caPath' | 'caPem'> {
  readonly ca?: string;
  readonly pauseDuration: string;
  readonly maxPauseWaitTime?: string;
  readonly timeZone: string;
  readonly retries: string;
  readonly lease?: string;
}

interface ScaleFlags extends ReleaseFlags {
  readonly timeout: string;
  readonly replicas?: string;
  readonly replicasFrom?: string;
  readonly record?: string;
}

export function register(program: Command): void {
  const k8s = program
    .command('k8s')
    .summary('pause a Helm release with the pod checks done for you; scale it for restores')
    .description(
      'Kubernetes: pause a ScalarDB / ScalarDL Helm release with the pod checks done for you, and scale it down ' +
        'and up around a restore. Uses the kubeconfig ($KUBECONFIG, ~/.kube/config) or the in-cluster service ' +
        'account. See docs/kubernetes.md.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint k8s pause -r scalardl-ledger -n ns-scalar -d 5000 -z Asia/Tokyo\n' +
        '  stillpoint k8s scale-down -r scalardb -n prod --record /tmp/scalardb.replicas\n' +
        '  stillpoint k8s scale-up -r scalardb -n prod --replicas-from /tmp/scalardb.replicas',
    );

  const pause = k8s
    .command('pause')
    .summary('pause every pod of a release, hold, unpause, and check the pods did not change')
    .description(
      'Pause every pod of a Helm release (by pod IP), hold, always unpause, and check that no pod was added, ' +
        'restarted or changed meanwhile (such a pod ran unpaused): then the window is invalid and retried. ' +
        'Prints one JSON line like scalar-admin-for-kubernetes (window start/end as epoch ms and local date-times ' +
        'in --time-zone) plus the mid-time and the SRV name for the upstream client. Exit 1 when no valid ' +
        'window was obtained or an unpause failed (reported first).',
    )
    .addHelpText('after', '\nExample:\n  stillpoint k8s pause -r scalardb -n default --pause-duration 10000 --lease 30000')
    .option('-d, --pause-duration <ms>', 'how long to hold the pause', '5000')
    .option('-w, --max-pause-wait-time <ms>', 'drain limit sent to the pods (default: theirs, 30000)')
    .option('-z, --time-zone <zone>', 'IANA time zone of the printed date-times', 'Etc/UTC')
    .option('--retries <n>', 'new attempts after an invalid window', '2')
    .option('--lease <ms>', 'pause lease (stillpoint servers unpause by themselves if we vanish)')
    .option('--tls', 'connect to the admin ports with TLS')
    .option('--ca <path>', 'CA certificate (PEM) to trust; implies --tls')
    .option('--override-authority <name>', 'TLS server name to expect')
    .option('--token <token>', 'admin bearer token (default: $STILLPOINT_ADMIN_TOKEN)');
  addReleaseOptions(pause).action(action((flags: PauseFlags) => runPause(flags)));

  const down = k8s
    .command('scale-down')
    .summary('scale a release to 0 and wait until its pods are gone')
    .description(
      "Scale the release's Deployment/StatefulSet to 0 and wait until its pods are gone (before a restore). " +
        'Prints the replica count to give scale-up afterwards.',
    )
    .option('--timeout <ms>', 'how long to wait for the pods to go', '300000')
    .option('--record <file>', 'also write the replica count to this file (for scale-up --replicas-from)');
  addReleaseOptions(down).action(action((flags: ScaleFlags) => runScale(flags, 'down')));

  const up = k8s
    .command('scale-up')
    .summary('scale a release back up and wait until its pods are Ready')
    .description("Scale the release's Deployment/StatefulSet to --replicas and wait until that many pods are Ready.")
    .option('--replicas <n>', 'replica count (as printed by scale-down)')
    .option('--replicas-from <file>', 'read the replica count from a file written by scale-down --record')
    .option('--timeout <ms>', 'how long to wait for readiness', '300000');
  addReleaseOptions(up).action(action((flags: ScaleFlags) => runScale(flags, 'up')));
}

function addReleaseOptions(command: Command): Command {
  return command
    .requiredOption('-r, --release <name>', 'Helm release name (helm list -n <namespace>)')
    .option('-n, --namespace <ns>', 'namespace of the release', 'default')
    .option('--product <product>', 'scalardb | scalardb-cluster | scalardl-ledger | scalardl-auditor (default: from the pod labels)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--json', 'errors as JSON too');
}

async function runPause(flags: PauseFlags): Promise<number> {
  const product = flags.product === undefined ? undefined : parseProduct(flags.product);
  const api = createK8sClientApi(flags.kubeconfig === undefined ? {} : { kubeconfigPath: flags.kubeconfig });
  const client = createPauseClient(connectionOptions({ ...flags, ...(flags.ca ? { caPath: flags.ca } : {}) }));
  // Ctrl-C / SIGTERM end the hold early; the pause is still undone before we exit.
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await pauseRelease({
      api,
      pauseClient: client,
      release: flags.release,
      namespace: flags.namespace,
      ...(product ? { product } : {}),
      pauseDurationMs: positive(flags.pauseDuration, '--pause-duration'),
      ...(flags.maxPauseWaitTime !== undefined ? { maxPauseWaitMs: positive(flags.maxPauseWaitTime, '--max-pause-wait-time') } : {}),
      ...(flags.lease !== undefined ? { leaseMs: positive(flags.lease, '--lease') } : {}),
      timeZone: flags.timeZone,
      retries: parseMillis(flags.retries, '--retries'),
      signal: controller.signal,
      onEvent: progress,
    });
    // Upstream prints exactly one JSON line; so do we, with or without --json.
    emit(true, wrapperJson(result), () => '');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client.close();
  }
}

// Progress goes to stderr so stdout stays the one JSON line.
function progress(event: K8sPauseEvent): void {
  if (event.type === 'paused') process.stderr.write(`attempt ${event.attempt}: paused ${event.targets.join(', ')}\n`);
  if (event.type === 'invalid') {
    process.stderr.write(`attempt ${event.attempt}: window INVALID: ${event.changes.join('; ')}\n`);
  }
}

async function runScale(flags: ScaleFlags, direction: 'up' | 'down'): Promise<number> {
  const api = createK8sClientApi(flags.kubeconfig === undefined ? {} : { kubeconfigPath: flags.kubeconfig });
  const base = { release: flags.release, namespace: flags.namespace, timeoutMs: positive(flags.timeout, '--timeout') };
  const product: ScalarProduct =
    flags.product === undefined ? await detectProduct(api, base) : parseProduct(flags.product);
  const workload = await findWorkload(api, { ...base, product });
  const replicas = direction === 'down' ? 0 : replicasFor(flags);
  await scaleAndWait(api, { ...base, product }, workload, replicas);
  const result = { workload: `${workload.kind}/${workload.name}`, replicas_before: workload.replicas, replicas };
  // Written after the pods are gone: a file present means the release really is scaled down.
  if (direction === 'down' && flags.record !== undefined) writeFileSync(flags.record, `${JSON.stringify(result)}\n`);
  emit(flags.json === true, result, () =>
    direction === 'down'
      ? `${result.workload} scaled to 0 (was ${workload.replicas}); after the restore run: stillpoint k8s scale-up -r ${flags.release} -n ${flags.namespace} --product ${product} --replicas ${workload.replicas}`
      : `${result.workload} scaled to ${replicas}; all pods Ready.`,
  );
  return 0;
}

// Exactly one of --replicas / --replicas-from (a file written by scale-down --record).
function replicasFor(flags: ScaleFlags): number {
  if ((flags.replicas === undefined) === (flags.replicasFrom === undefined)) {
    throw new ConfigError('REPLICAS_MISSING', 'Give exactly one of --replicas <n> or --replicas-from <file>.', {
      hint: 'scale-down prints the count, and writes it to a file with --record <file>.',
    });
  }
  if (flags.replicas !== undefined) return parseMillis(flags.replicas, '--replicas');
  try {
    const recorded = JSON.parse(readFileSync(flags.replicasFrom!, 'utf8')) as { replicas_before?: unknown };
    if (typeof recorded.replicas_before === 'number') return recorded.replicas_before;
    throw new Error('no replicas_before field');
  } catch (error) {
    throw new ConfigError('REPLICAS_FILE_INVALID', `Cannot read the replica count from ${flags.replicasFrom}.`, {
      hint: 'Give the file written by `stillpoint k8s scale-down --record`, or --replicas <n>.',
      cause: error,
    });
  }
}

function positive(text: string, flag: string): number {
  const value = parseMillis(text, flag);
  if (value <= 0) throw new ConfigError('NUMBER_INVALID', `${flag} must be greater than 0, got "${text}".`);
  return value;
}
