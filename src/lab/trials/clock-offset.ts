/**
 * The `clock-offset` fault: a process whose wall clock runs ahead or behind by a fixed offset. A preload
 * (`node --import data:…`, placed before the CLI script) replaces `Date` so that `Date.now()` and
 * `new Date()` read the real time plus the offset; explicit dates, `performance.now()` and timers are
 * untouched, as with a real clock step. Everything the process stamps or compares in wall time sees it:
 * a node's transaction timestamps and lazy-recovery expiry, an orchestrator's window and catalog times.
 */

/** Node options that start a process with its clock `offsetMs` ahead (negative: behind). */
export function clockOffsetExecArgv(offsetMs: number): string[] {
  const offset = Math.trunc(offsetMs);
  const source =
    `const offset=${offset};const Real=Date;` +
    'class Offset extends Real{constructor(...a){if(a.length===0)super(Real.now()+offset);else super(...a)}' +
    'static now(){return Real.now()+offset}}' +
    'globalThis.Date=Offset;';
  return ['--import', `data:text/javascript,${encodeURIComponent(source)}`];
}
