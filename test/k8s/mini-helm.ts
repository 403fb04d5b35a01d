/**
 * A tiny, honest renderer for the SUBSET of Helm's Go-template language that deploy/helm/stillpoint uses
 * (no Helm renderer is available from npm): `{{ .Values.a.b }}`, `$.…` inside `range`, `.` / `.field` of the
 * range item, `if` / `else` / `end`, `range` / `end`, whitespace trimming `{{-` / `-}}`, and the functions
 * `quote`, `toYaml`, `nindent N`, `indent N` in pipelines. Anything else throws, so a template that grows past
 * this subset fails the test instead of rendering wrongly.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; expr: string }
  | { kind: 'if'; expr: string; then: Node[]; else: Node[] }
  | { kind: 'range'; expr: string; body: Node[] };

interface Scope {
  readonly root: Record<string, unknown>;
  readonly dot: unknown;
}

type Token = { kind: 'text'; text: string } | { kind: 'action'; body: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
  let last = 0;
  let trimNext = false;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    let text = source.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (m[1] === '-') text = text.replace(/\s+$/, '');
    tokens.push({ kind: 'text', text });
    tokens.push({ kind: 'action', body: m[2]! });
    trimNext = m[3] === '-';
    last = re.lastIndex;
  }
  let tail = source.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, '');
  tokens.push({ kind: 'text', text: tail });
  return tokens;
}

function parseTokens(tokens: Token[], at: { i: number }, stopAt: string[]): { nodes: Node[]; stop: string } {
  const nodes: Node[] = [];
  while (at.i < tokens.length) {
    const token = tokens[at.i++]!;
    if (token.kind === 'text') {
      if (token.text !== '') nodes.push({ kind: 'text', text: token.text });
      continue;
    }
    const body = token.body;
    const word = body.split(/\s+/)[0]!;
    if (stopAt.includes(word)) return { nodes, stop: word };
    if (word === 'if') {
      const then = parseTokens(tokens, at, ['else', 'end']);
      const otherwise = then.stop === 'else' ? parseTokens(tokens, at, ['end']).nodes : [];
      nodes.push({ kind: 'if', expr: body.slice(2).trim(), then: then.nodes, else: otherwise });
    } else if (word === 'range') {
      nodes.push({ kind: 'range', expr: body.slice(5).trim(), body: parseTokens(tokens, at, ['end']).nodes });
    } else if (['else', 'end', 'define', 'include', 'template', 'with', 'block'].includes(word) || body.startsWith('/*')) {
      throw new Error(`mini-helm: unsupported action "{{ ${body} }}"`);
    } else {
      nodes.push({ kind: 'out', expr: body });
    }
  }
  if (stopAt.length > 0) throw new Error(`mini-helm: missing {{ end }} (expected ${stopAt.join('/')})`);
  return { nodes, stop: '' };
}

function lookup(term: string, scope: Scope): unknown {
  if (/^".*"$/.test(term)) return JSON.parse(term) as string;
  if (/^\d+$/.test(term)) return Number(term);
  let base: unknown;
  let path: string;
  if (term === '.') return scope.dot;
  if (term.startsWith('$.')) [base, path] = [scope.root, term.slice(2)];
  else if (term.startsWith('.')) [base, path] = [scope.dot, term.slice(1)];
  else throw new Error(`mini-helm: unsupported term "${term}"`);
  return path.split('.').reduce<unknown>((obj, k) => (obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[k] : undefined), base);
}

function indentLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((line) => ' '.repeat(n) + line)
    .join('\n');
}

function evaluate(expr: string, scope: Scope): unknown {
  const stages = expr.split('|').map((s) => s.trim().split(/\s+/));
  const [first, ...rest] = stages;
  // The first stage is a term (`.Values.x`) or a call with its last argument a term (`toYaml .Values.x`).
  let value = lookup(first![first!.length - 1]!, scope);
  if (first!.length > 1) value = apply(first!.slice(0, -1), value, expr);
  for (const stage of rest) value = apply(stage, value, expr);
  return value;
}

function apply([fn, ...args]: string[], value: unknown, expr: string): unknown {
  const n = args[0] === undefined ? NaN : Number(args[0]);
  if (fn === 'quote' && args.length === 0) return JSON.stringify(toText(value));
  if (fn === 'toYaml' && args.length === 0) return stringify(value).replace(/\n$/, '');
  if (fn === 'nindent' && args.length === 1 && Number.isInteger(n)) return `\n${indentLines(toText(value), n)}`;
  if (fn === 'indent' && args.length === 1 && Number.isInteger(n)) return indentLines(toText(value), n);
  throw new Error(`mini-helm: unsupported function "${[fn, ...args].join(' ')}" in "${expr}"`);
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return '';
  throw new Error('mini-helm: an object printed without toYaml');
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function render(nodes: Node[], scope: Scope): string {
  return nodes
    .map((node) => {
      switch (node.kind) {
        case 'text':
          return node.text;
        case 'out':
          return toText(evaluate(node.expr, scope));
        case 'if':
          return render(truthy(evaluate(node.expr, scope)) ? node.then : node.else, scope);
        case 'range': {
          const list = evaluate(node.expr, scope);
          if (list === undefined || list === null) return '';
          if (!Array.isArray(list)) throw new Error(`mini-helm: range over a non-list "${node.expr}"`);
          return list.map((item) => render(node.body, { root: scope.root, dot: item })).join('');
        }
      }
    })
    .join('');
}

/** Renders one template source with `values` (already merged). */
export function renderTemplate(source: string, root: Record<string, unknown>): string {
  return render(parseTokens(tokenize(source), { i: 0 }, []).nodes, { root, dot: root });
}

function merge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (base && override && typeof base === 'object' && typeof override === 'object' && !Array.isArray(base) && !Array.isArray(override)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(override)) out[k] = merge(out[k], v);
    return out;
  }
  return override;
}

/** Like `helm template NAME CHART -n NS --values …`: every template rendered and parsed into YAML documents. */
export function renderChart(
  chartDir: string,
  options: { release: string; namespace: string; values?: Record<string, unknown> },
): Record<string, unknown>[] {
  const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const root = {
    Values: merge(defaults, options.values ?? {}),
    Release: { Name: options.release, Namespace: options.namespace, Service: 'Helm' },
    Chart: parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as unknown,
  };
  const docs: Record<string, unknown>[] = [];
  for (const file of readdirSync(join(chartDir, 'templates')).filter((f) => f.endsWith('.yaml')).sort()) {
    const text = renderTemplate(readFileSync(join(chartDir, 'templates', file), 'utf8'), root);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`mini-helm: ${file} renders invalid YAML: ${doc.errors[0]!.message}\n${text}`);
      const value = doc.toJS() as unknown;
      if (value !== null && value !== undefined) docs.push(value as Record<string, unknown>);
    }
  }
  return docs;
}
