/// <reference lib="dom" />
/**
 * The dashboard: preact + htm (tagged templates, no JSX build step), bundled by scripts/build-ui.ts. It only
 * reads the JSON API of ../server.ts; times are shown in UTC ISO, exactly as the API gives them, so what the
 * page shows can be compared with the API (the browser test does). A token given as `#token=…` in the URL is
 * sent as a bearer token (a fragment never reaches the server's logs).
 */
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import type { CatalogSnapshot, GroupRpo, PitrWindow, TimelineRow } from '../../catalog/catalog-view.ts';

type Overview = Pick<CatalogSnapshot, 'nowMs' | 'groups' | 'rpo' | 'pitr' | 'pauseHealth'>;

const token = /(?:^|[#&])token=([^&]+)/.exec(location.hash)?.[1];

async function api<T>(path: string): Promise<T> {
  const res = await fetch(
    path,
    token ? { headers: { Authorization: `Bearer ${decodeURIComponent(token)}` } } : {},
  );
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const iso = (ms: number | null): string => (ms === null ? '—' : new Date(ms).toISOString());

function ago(seconds: number | null): string {
  if (seconds === null) return 'no verified backup';
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function GroupCard({ rpo, pitr }: { rpo: GroupRpo; pitr: PitrWindow | undefined }) {
  const g = rpo.group;
  return html`<div class="card" data-testid=${`group-${g}`}>
    <strong>${g}</strong>
    <div>
      ${'RPO: '}<span data-testid=${`rpo-${g}`} data-seconds=${rpo.rpoSeconds ?? ''}
        >${ago(rpo.rpoSeconds)}</span
      >
      ${rpo.backupId ? html` <span class="muted mono">(${rpo.backupId})</span>` : null}
    </div>
    <div>Consistent PITR window:</div>
    <div class="mono">
      <span data-testid=${`pitr-from-${g}`}>${iso(pitr?.fromMs ?? null)}</span> →
      <span data-testid=${`pitr-to-${g}`}>${iso(pitr?.toMs ?? null)}</span>
    </div>
    <div class="muted">
      ${pitr?.points.length ?? 0} restore point(s); members ${pitr?.members.map((m) => m.member).join(', ')}
    </div>
    ${(pitr?.gaps ?? []).map(
      (gap) =>
        html`<div class="reason" data-testid="pitr-gap">
          gap ${iso(gap.fromMs)} → ${iso(gap.toMs)}:
          ${gap.missed.map((m) => `${m.backupId} ${m.state}${m.reason ? ` (${m.reason})` : ''}`).join('; ')}
        </div>`,
    )}
  </div>`;
}

function PauseHealthCard({ health }: { health: Overview['pauseHealth'] }) {
  return html`<div class="card" data-testid="pause-health">
    <strong>Pause health</strong>
    <div>
      ${'held now: '}${health.heldNow.length === 0 ? 'none' : health.heldNow.map((x) => `${x.backupId} ${(x.heldMs / 1000).toFixed(1)} s of ${(x.leaseMs / 1000).toFixed(1)} s lease`).join(', ')}
    </div>
    <div>rollbacks (failed pauses undone): ${health.rollbacks.length}</div>
    <div>unpause failures: ${health.unpauseFailures.length}</div>
    <div>
      invalid windows: ${health.invalidWindows.length} (lease expiries ${health.leaseExpiries.length},
      membership changes ${health.membershipChanges.length})
    </div>
  </div>`;
}

function Timeline({ rows }: { rows: readonly TimelineRow[] }) {
  return html`<table data-testid="timeline">
    <thead>
      <tr>
        <th>backup</th>
        <th>group</th>
        <th>state</th>
        <th>restore point (UTC)</th>
        <th>window</th>
        <th>drain</th>
        <th>bytes</th>
        <th>duration</th>
        <th>verified</th>
      </tr>
    </thead>
    <tbody>
      ${[...rows].reverse().map(
        (r) =>
          html`<tr data-testid=${`backup-${r.id}`} data-state=${r.state}>
            <td class="mono"><a href=${`#/backup/${r.id}${token ? `&token=${token}` : ''}`}>${r.id}</a></td>
            <td>${r.group}</td>
            <td class=${`state-${r.state}`}>
              ${r.state}${r.reason ? html`<div class="reason" data-testid="reason">${r.reason}</div>` : null}
            </td>
            <td class="mono">${iso(r.pointMs)}</td>
            <td>${r.windowMs === null ? '—' : `${r.windowMs} ms`}</td>
            <td>${r.drainMs === null ? '—' : `${r.drainMs} ms`}</td>
            <td>${bytes(r.bytes)}</td>
            <td>${r.durationMs === null ? '—' : `${(r.durationMs / 1000).toFixed(1)} s`}</td>
            <td>${r.verified ? 'yes' : 'no'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

interface BackupPage {
  backup: {
    id: string;
    state: string;
    reason: string | null;
    members: {
      name: string;
      engine: string;
      state: string;
      handle: unknown;
      bytes: number | null;
      error: string | null;
    }[];
    artifacts: { key: string; bytes: number; sha256: string; member: string }[];
  };
  verification: { verified: boolean; why: string | null };
  events: { seq: number; ts: string; type: string; data: unknown }[];
}

function Backup({ id }: { id: string }) {
  const [page, setPage] = useState<BackupPage | string | null>(null);
  useEffect(() => {
    api<BackupPage>(`/api/backups/${encodeURIComponent(id)}`).then(setPage, (e: Error) => setPage(e.message));
  }, [id]);
  if (page === null) return html`<p>loading…</p>`;
  if (typeof page === 'string') return html`<p class="reason">${page}</p>`;
  const b = page.backup;
  return html`<div data-testid="backup-page">
    <p><a href=${`#${token ? `token=${token}` : ''}`}>← all backups</a></p>
    <h2 class="mono">${b.id}: <span class=${`state-${b.state}`}>${b.state}</span></h2>
    ${b.reason ? html`<p class="reason" data-testid="reason">${b.reason}</p>` : null}
    <p>verified: ${page.verification.verified ? 'yes' : `no — ${page.verification.why ?? ''}`}</p>
    <h2>Members</h2>
    <table>
      <thead>
        <tr>
          <th>member</th>
          <th>engine</th>
          <th>state</th>
          <th>restore handle</th>
          <th>bytes</th>
        </tr>
      </thead>
      <tbody>
        ${b.members.map(
          (m) =>
            html`<tr>
              <td>${m.name}</td>
              <td>${m.engine}</td>
              <td>${m.state}${m.error ? html`<div class="reason">${m.error}</div>` : null}</td>
              <td class="mono">${m.handle ? JSON.stringify(m.handle) : '—'}</td>
              <td>${m.bytes ?? '—'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Artifacts</h2>
    <table>
      <thead>
        <tr>
          <th>key</th>
          <th>member</th>
          <th>bytes</th>
          <th>sha256</th>
        </tr>
      </thead>
      <tbody>
        ${b.artifacts.map(
          (a) =>
            html`<tr>
              <td class="mono">${a.key}</td>
              <td>${a.member}</td>
              <td>${a.bytes}</td>
              <td class="mono">${a.sha256.slice(0, 16)}…</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Events</h2>
    <table>
      <thead>
        <tr>
          <th>#</th>
          <th>time (UTC)</th>
          <th>type</th>
          <th>data</th>
        </tr>
      </thead>
      <tbody>
        ${page.events.map(
          (e) =>
            html`<tr>
              <td>${e.seq}</td>
              <td class="mono">${e.ts}</td>
              <td>${e.type}</td>
              <td class="mono">${JSON.stringify(e.data).slice(0, 240)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function App() {
  const [route, setRoute] = useState(location.hash);
  const [overview, setOverview] = useState<Overview | null>(null);
  const [rows, setRows] = useState<readonly TimelineRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const onHash = () => setRoute(location.hash);
    addEventListener('hashchange', onHash);
    const load = () =>
      Promise.all([api<Overview>('/api/overview'), api<{ backups: TimelineRow[] }>('/api/backups')]).then(
        ([o, t]) => {
          setOverview(o);
          setRows(t.backups);
          setError(null);
        },
        (e: Error) => setError(e.message),
      );
    void load();
    const timer = setInterval(() => void load(), 15_000);
    return () => {
      clearInterval(timer);
      removeEventListener('hashchange', onHash);
    };
  }, []);
  const backupId = /^#\/backup\/([^&]+)/.exec(route)?.[1];
  return html`<div>
    <h1>stillpoint <span class="muted">— backups, restore window, pauses</span></h1>
    ${error ? html`<p class="reason">${error}</p>` : null}
    ${
      backupId
        ? html`<${Backup} id=${backupId} />`
        : overview === null
          ? html`<p>loading…</p>`
          : html`<div>
              <div class="cards" data-ready="true" data-testid="overview" data-now=${overview.nowMs}>
                ${overview.rpo.map((r) => html`<${GroupCard} rpo=${r} pitr=${overview.pitr.find((p) => p.group === r.group)} />`)}
                <${PauseHealthCard} health=${overview.pauseHealth} />
              </div>
              <h2>Timeline</h2>
              <${Timeline} rows=${rows} />
            </div>`
    }
  </div>`;
}

const root = document.getElementById('app')!;
root.textContent = ''; // the static "loading…" placeholder: preact keeps foreign nodes it did not render
render(h(App, null), root);
