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
import type * as K8sClientApiModule from '../../k8s/k8s-client-api.ts';
import { type K8sPauseEvent, pauseRelease, wrapperJson } from '../../k8s/k8s-pause.ts';
import { type ReleaseRef, type ScalarProduct, parseProduct, detectProduct } from '../../k8s/release.ts';
import { findWorkload, scaleAndWait } from '../../k8s/restore-hooks.ts';
import type * as PauseClientModule from '../../pause/pause-client.ts';
import { action, emit } from '../output.ts';
import {
  TOKEN_HELP,
  type ConnectionFlags,
  collect,
  connectionOptions,
  parseMillis,
} from '../pause-options.ts';

interface ReleaseFlags {
  readonly release: string;
  readonly namespace: string;
  readonly product?: string;
  readonly kubeconfig?: string;
  readonly json?: boolean;
}

interface PauseFlags extends Omit<ReleaseFlags, 'release'>, Omit<ConnectionFlags, 'caPath' | 'caPem'> {
  readonly release?: readonly string[];
  readonly deployment?: string;
  readonly statefulset?: string;
  readonly selector?: string;
  readonly adminPort?: string;
  readonly ca?: string;
  readonly caRootCertPath?: string;
  readonly caRootCertPem?: string;
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
        '  stillpoint k8s pause -r scalardl-ledger -r scalardl-auditor -n ns-scalar\n' +
        '  stillpoint k8s scale-down -r scalardb -n prod --record /tmp/scalardb.replicas\n' +
        '  stillpoint k8s scale-up -r scalardb -n prod --replicas-from /tmp/scalardb.replicas',
    );

  const pause = k8s
    .command('pause')
    .summary('pause every pod of one or more releases, hold, unpause, and check the pods did not change')
    .description(
      'Pause every pod of one or more Helm releases (-r, repeatable; by pod IP, all in one all-or-nothing window), ' +
        'or of a workload (--deployment / --statefulset) or a pod selector (--selector) with --admin-port, ' +
        'hold, always unpause, and check that no pod was added, ' +
        'restarted or changed meanwhile (such a pod ran unpaused): then the window is invalid and retried. ' +
        'Prints one JSON line like scalar-admin-for-kubernetes (window start/end as epoch ms and local date-times ' +
        'in --time-zone) plus the mid-time and the SRV name for the upstream client. Exit 1 when no valid ' +
        'window was obtained, 4 when an unpause failed (reported first, with the commands to recover).',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  stillpoint k8s pause -r scalardb -n default --pause-duration 10000 --lease 30000\n' +
        '  stillpoint k8s pause -r ledger -r auditor -n ns-scalar --token-file /run/secrets/admin-token\n' +
        '  stillpoint k8s pause --statefulset my-ledger --admin-port 50053 -n ledger',
    )
    .option(
      '-r, --release <name>',
      'Helm release name, or <namespace>/<name>; repeat for several releases in one window',
      collect,
    )
    .option(
      '--deployment <name>',
      'pause the pods of this Deployment (no Helm labels needed; with --admin-port)',
    )
    .option(
      '--statefulset <name>',
      'pause the pods of this StatefulSet (no Helm labels needed; with --admin-port)',
    )
    .option(
      '--selector <labels>',
      'pause the pods matching this label selector k=v,k2=v2 (with --admin-port)',
    )
    .option(
      '--admin-port <port>',
      'admin port: a number or a container port name (with --deployment/--statefulset/--selector)',
    )
    .option('-d, --pause-duration <ms>', 'how long to hold the pause', '5000')
    .option('-w, --max-pause-wait-time <ms>', 'drain limit sent to the pods (default: theirs, 30000)')
    .option('-z, --time-zone <zone>', 'IANA time zone of the printed date-times', 'Etc/UTC')
    .option('--retries <n>', 'new attempts after an invalid window', '2')
    .option('--lease <ms>', 'pause lease (stillpoint servers unpause by themselves if we vanish)')
    .option('--tls', 'connect to the admin ports with TLS')
    .option('--ca, --ca-root-cert-path <path>', 'CA certificate (PEM file) to trust; implies --tls')
    .option('--ca-root-cert-pem <pem>', 'CA certificate as PEM text (as upstream accepts); implies --tls')
    .option('--override-authority <name>', 'TLS server name to expect')
    .option('--token <token>', TOKEN_HELP.token)
    .option('--token-file <path>', TOKEN_HELP.tokenFile);
  addCommonOptions(pause).action(action((flags: PauseFlags) => runPause(flags)));

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
    .description(
      "Scale the release's Deployment/StatefulSet to --replicas and wait until that many pods are Ready.",
    )
    .option('--replicas <n>', 'replica count (as printed by scale-down)')
    .option('--replicas-from <file>', 'read the replica count from a file written by scale-down --record')
    .option('--timeout <ms>', 'how long to wait for readiness', '300000');
  addReleaseOptions(up).action(action((flags: ScaleFlags) => runScale(flags, 'up')));
}

function addReleaseOptions(command: Command): Command {
  return addCommonOptions(
    command.requiredOption('-r, --release <name>', 'Helm release name (helm list -n <namespace>)'),
  );
}

function addCommonOptions(command: Command): Command {
  return command
    .option('-n, --namespace <ns>', 'namespace of the release', 'default')
    .option(
      '--product <product>',
      'scalardb | scalardb-cluster | scalardl-ledger | scalardl-auditor (default: from the pod labels)',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--json', 'errors as JSON too');
}

async function runPause(flags: PauseFlags): Promise<number> {
  const releases = pauseRefs(flags);
  const connection = connectionOptions({ ...flags, ...caOf(flags) });
  const api = await createK8sClientApi(
    flags.kubeconfig === undefined ? {} : { kubeconfigPath: flags.kubeconfig },
  );
  const client = await createPauseClient(connection);
  // Ctrl-C / SIGTERM end the hold early; the pause is still undone before we exit.
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await pauseRelease({
      api,
      pauseClient: client,
      releases,
      pauseDurationMs: positive(flags.pauseDuration, '--pause-duration'),
      ...(flags.maxPauseWaitTime !== undefined
        ? { maxPauseWaitMs: positive(flags.maxPauseWaitTime, '--max-pause-wait-time') }
        : {}),
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

// What to pause: the releases (-r, repeatable, `<ns>/<name>` or the -n namespace), or one workload / selector.
function pauseRefs(flags: PauseFlags): ReleaseRef[] {
  const product = flags.product === undefined ? undefined : parseProduct(flags.product);
  const common = { ...(product ? { product } : {}) };
  const releases = flags.release ?? [];
  const others = [flags.deployment, flags.statefulset, flags.selector].filter((x) => x !== undefined).length;
  if ((releases.length > 0 ? 1 : 0) + others !== 1) {
    throw new ConfigError(
      'K8S_SOURCE_INVALID',
      'Give the Helm release(s) with -r, or exactly one of --deployment, --statefulset, --selector.',
      {
        hint: 'Example: stillpoint k8s pause -r scalardb -n ns-scalar, or --statefulset ledger --admin-port 50053.',
      },
    );
  }
  if (releases.length > 0) {
    if (flags.adminPort !== undefined) {
      throw new ConfigError(
        'FLAG_INVALID',
        '--admin-port is for --deployment, --statefulset and --selector; a release has it in its headless service.',
      );
    }
    return releases.map((text) => {
      const [namespace, release] = text.includes('/')
        ? (text.split('/', 2) as [string, string])
        : [flags.namespace, text];
      if (namespace === '' || release === '')
        throw new ConfigError(
          'K8S_SOURCE_INVALID',
          `Bad release "${text}": use <name> or <namespace>/<name>.`,
        );
      return { release, namespace, ...common };
    });
  }
  const adminPort =
    flags.adminPort === undefined
      ? undefined
      : /^\d+$/.test(flags.adminPort)
        ? Number(flags.adminPort)
        : flags.adminPort;
  const base = { namespace: flags.namespace, ...common, ...(adminPort === undefined ? {} : { adminPort }) };
  if (flags.deployment !== undefined)
    return [{ ...base, workload: { kind: 'Deployment', name: flags.deployment } }];
  if (flags.statefulset !== undefined)
    return [{ ...base, workload: { kind: 'StatefulSet', name: flags.statefulset } }];
  return [{ ...base, selector: flags.selector! }];
}

// The CA: a file (--ca / --ca-root-cert-path) or PEM text (--ca-root-cert-pem), not both.
function caOf(flags: PauseFlags): { caPath?: string; caPem?: string } {
  if ((flags.ca ?? flags.caRootCertPath) !== undefined && flags.caRootCertPem !== undefined) {
    throw new ConfigError(
      'FLAG_INVALID',
      'Give the CA as a file (--ca-root-cert-path) or as PEM text (--ca-root-cert-pem), not both.',
    );
  }
  if (flags.caRootCertPem !== undefined) {
    if (!flags.caRootCertPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(
        'FLAG_INVALID',
        '--ca-root-cert-pem must be PEM text (-----BEGIN CERTIFICATE----- …).',
        {
          hint: 'Give a file with --ca-root-cert-path, or the PEM text itself: --ca-root-cert-pem "$(cat ca.pem)".',
        },
      );
    }
    return { caPem: flags.caRootCertPem };
  }
  const path = flags.ca ?? flags.caRootCertPath;
  return path === undefined ? {} : { caPath: path };
}

// Progress goes to stderr so stdout stays the one JSON line.
function progress(event: K8sPauseEvent): void {
  if (event.type === 'paused')
    process.stderr.write(`attempt ${event.attempt}: paused ${event.targets.join(', ')}\n`);
  if (event.type === 'invalid') {
    process.stderr.write(`attempt ${event.attempt}: window INVALID: ${event.changes.join('; ')}\n`);
  }
}

async function runScale(flags: ScaleFlags, direction: 'up' | 'down'): Promise<number> {
  const api = await createK8sClientApi(
    flags.kubeconfig === undefined ? {} : { kubeconfigPath: flags.kubeconfig },
  );
  const base = {
    release: flags.release,
    namespace: flags.namespace,
    timeoutMs: positive(flags.timeout, '--timeout'),
  };
  const product: ScalarProduct =
    flags.product === undefined ? await detectProduct(api, base) : parseProduct(flags.product);
  const workload = await findWorkload(api, { ...base, product });
  const replicas = direction === 'down' ? 0 : replicasFor(flags);
  await scaleAndWait(api, { ...base, product }, workload, replicas);
  const result = {
    workload: `${workload.kind}/${workload.name}`,
    replicas_before: workload.replicas,
    replicas,
  };
  // Written after the pods are gone: a file present means the release really is scaled down.
  if (direction === 'down' && flags.record !== undefined)
    writeFileSync(flags.record, `${JSON.stringify(result)}\n`);
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
    throw new ConfigError(
      'REPLICAS_MISSING',
      'Give exactly one of --replicas <n> or --replicas-from <file>.',
      {
        hint: 'scale-down prints the count, and writes it to a file with --record <file>.',
      },
    );
  }
  if (flags.replicas !== undefined) return parseMillis(flags.replicas, '--replicas');
  try {
    const recorded = JSON.parse(readFileSync(flags.replicasFrom!, 'utf8')) as { replicas_before?: unknown };
    if (typeof recorded.replicas_before === 'number') return recorded.replicas_before;
    throw new Error('no replicas_before field');
  } catch (error) {
    throw new ConfigError(
      'REPLICAS_FILE_INVALID',
      `Cannot read the replica count from ${flags.replicasFrom}.`,
      {
        hint: 'Give the file written by `stillpoint k8s scale-down --record`, or --replicas <n>.',
        cause: error,
      },
    );
  }
}

function positive(text: string, flag: string): number {
  const value = parseMillis(text, flag);
  if (value <= 0) throw new ConfigError('NUMBER_INVALID', `${flag} must be greater than 0, got "${text}".`);
  return value;
}

/** The gRPC client, imported on first use: `--help` must not load @grpc/grpc-js (issue 17). */
async function createPauseClient(
  ...args: Parameters<typeof PauseClientModule.createPauseClient>
): Promise<ReturnType<typeof PauseClientModule.createPauseClient>> {
  return (await import('../../pause/pause-client.ts')).createPauseClient(...args);
}

/** The Kubernetes client (~0.6 s to load), imported only by the commands that talk to a cluster (issue 17). */
async function createK8sClientApi(
  ...args: Parameters<typeof K8sClientApiModule.createK8sClientApi>
): Promise<ReturnType<typeof K8sClientApiModule.createK8sClientApi>> {
  return (await import('../../k8s/k8s-client-api.ts')).createK8sClientApi(...args);
}
