/**
 * Renders deploy/helm/stillpoint with Helm's template engine — Go's text/template and the sprig functions —
 * through ./helm-render/main.go, which the tests compile once from Debian's Go packages (golang-go,
 * golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev; scripts/ensure-deps.sh installs them) in GOPATH
 * mode, so no network is needed. The binary is cached under the OS temp dir by the hash of its source.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const SOURCE = join(import.meta.dirname, 'helm-render', 'main.go');
const GOPATH = process.env.STILLPOINT_GOPATH ?? '/usr/share/gocode';

/** The renderer binary, built on first use (atomically: test files build it in parallel). */
export function helmRenderer(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'stillpoint-helm-render');
  const binary = join(dir, `helm-render-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, 'build-'));
  try {
    execFileSync('go', ['build', '-o', join(work, 'helm-render'), SOURCE], {
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH,
        GOFLAGS: '',
        GOCACHE: join(dir, 'cache'),
        CGO_ENABLED: '0',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(join(work, 'helm-render'), binary);
  } catch (error) {
    throw new Error(
      `cannot build the Helm template renderer (${String(error)}); install Go and sprig: ` +
        'apt-get install -y golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev (scripts/ensure-deps.sh does)',
      { cause: error },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}

export interface RenderOptions {
  readonly release: string;
  readonly namespace: string;
  /** Overrides of values.yaml, as `helm template -f` would merge them. */
  readonly values?: Record<string, unknown>;
}

/** The rendered manifests' text, by template name (`stillpoint/templates/x.yaml`). Throws the template error. */
export function renderChartText(chartDir: string, options: RenderOptions): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'stillpoint-helm-values-'));
  try {
    const values = join(dir, 'values.json');
    writeFileSync(values, JSON.stringify(options.values ?? {}));
    let out: string;
    try {
      out = execFileSync(helmRenderer(), [chartDir, options.release, options.namespace, values], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      throw new Error(`helm template failed: ${stderr.trim()}`, { cause: error });
    }
    return (JSON.parse(out) as { manifests: Record<string, string> }).manifests;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every Kubernetes object the chart renders, parsed (empty documents dropped). */
export function renderChart(chartDir: string, options: RenderOptions): Record<string, unknown>[] {
  const manifests = renderChartText(chartDir, options);
  return Object.keys(manifests)
    .sort()
    .flatMap((name) =>
      parseAllDocuments(manifests[name]!).map((d) => d.toJS() as Record<string, unknown> | null),
    )
    .filter((d): d is Record<string, unknown> => d !== null && typeof d === 'object');
}
