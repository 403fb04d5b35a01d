/**
 * "Did you mean": the keys a zod schema allows at a path, and the one closest to a mistyped key, so an
 * `unknown key(s) "option"` error can suggest `options`. Walks zod's definitions (object, array, optional,
 * default, pipe, union, …); a union contributes the keys of every branch.
 */
import type { z } from 'zod';

interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** The schemas reached by following `path` (numbers index arrays, strings object keys). */
function schemasAt(schema: z.ZodType, path: readonly PropertyKey[], depth = 0): z.ZodType[] {
  if (depth > 64) return [];
  const def = defOf(schema);
  const wrapped = def.innerType ?? def.in ?? (def.type === 'lazy' ? def.getter?.() : undefined);
  if (wrapped !== undefined) return schemasAt(wrapped, path, depth + 1);
  if (def.type === 'union') return (def.options ?? []).flatMap((o) => schemasAt(o, path, depth + 1));
  if (def.type === 'intersection')
    return [def.left, def.right].flatMap((o) => (o ? schemasAt(o, path, depth + 1) : []));
  if (path.length === 0) return [schema];
  const [head, ...rest] = path;
  if (def.type === 'object' && typeof head === 'string' && def.shape?.[head] !== undefined)
    return schemasAt(def.shape[head], rest, depth + 1);
  if (def.type === 'array' && def.element !== undefined) return schemasAt(def.element, rest, depth + 1);
  if (def.type === 'record' && def.valueType !== undefined) return schemasAt(def.valueType, rest, depth + 1);
  return [];
}

/** The object keys the schema allows at `path` (empty when it is not an object there). */
export function allowedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const keys = schemasAt(schema, path).flatMap((s) => {
    const def = defOf(s);
    return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
  });
  return [...new Set(keys)];
}

/** The candidate closest to `word` (edit distance ≤ 2, or one is a prefix of the other), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const c of candidates) {
    const prefix = c.startsWith(word) || word.startsWith(c) ? 1 : Infinity;
    const distance = Math.min(prefix, editDistance(word.toLowerCase(), c.toLowerCase()));
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key: c, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}
