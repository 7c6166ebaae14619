/* The district overview's drawing: the totals in the header, one table row per site (most
 * urgent first, as the server sorts them), the banner of the watch's own faults and the
 * connection state. Pure DOM over `view`; district-stream.js fills `view` and calls render().
 * Times are relative ("3分钟前", kept current by dom.js's ticker) or how long an alert has
 * waited ("2分5秒", refreshWaits()); hovering one shows the clock time in that site's zone. */
import { duration, lang, locale, t, tOr } from './i18n.js';
import { ms, secondsSince, setZone, siteZone } from './format.js';
import { $, agoSpan, h } from './dom.js';
import { renderConnState } from './conn.js';

export const STATUSES = ['alarm', 'attention', 'open', 'ok'];
const SHAPE = { alarm: '▲', attention: '●', open: '■', ok: '✓' };
const SEVERITIES = ['critical', 'high', 'medium', 'low'];

/** What the page shows: the last summary, the stream's state, the /readyz checks. */
export const view = { summary: null, conn: 'connecting', lostSince: null, readyz: null };

const sites = () => (view.summary && Array.isArray(view.summary.sites) ? view.summary.sites : []);
const num = (v) => (Number.isFinite(v) ? v : 0);

/** The clock time of `iso` in the zone `tz` (the site's), with the date. */
function zoned(iso, tz) {
  const v = ms(iso);
  if (!Number.isFinite(v)) return '';
  const opts = { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false };
  try {
    return new Date(v).toLocaleString(locale(), { ...opts, timeZone: tz });
  } catch (_e) {
    return new Date(v).toLocaleString(locale(), opts); // an unknown zone: the browser's
  }
}

/** A "time ago" span with a label before it and the site's clock time on hover. */
function since(label, iso, tz) {
  const span = agoSpan(iso);
  span.title = zoned(iso, tz);
  return h('span', { class: 'sub' }, label, span);
}

const waitText = (iso) => duration(secondsSince(iso) || 0);

/** How long the oldest unacknowledged alert has waited, kept current by refreshWaits(). */
function waited(iso, tz) {
  const span = h('span', { class: 'wait', data: { since: iso }, title: zoned(iso, tz), text: waitText(iso) });
  return h('span', { class: 'sub nowrap' }, t('district.longest_wait'), span);
}

/** Bring every waiting time up to date (once a second). */
export function refreshWaits() {
  for (const el of document.querySelectorAll('[data-since]')) {
    const txt = waitText(el.dataset.since);
    if (el.textContent !== txt) el.textContent = txt;
  }
}

const nil = () => h('span', { class: 'nil', text: t('district.none') });

/** Why the site has its state, in words: what the officer would ask first. */
function reasons(row) {
  const out = [];
  if (num(row.critical_unack)) out.push(t('district.reason.critical_unack'));
  else if (num(row.unack)) out.push(t('district.reason.unack'));
  if (num(row.fire_faults)) out.push(t('district.reason.fire'));
  if (row.link && row.link !== 'ok' && row.link !== 'no_devices') out.push(t('district.reason.link'));
  if (!out.length && num(row.open)) out.push(t('district.reason.open'));
  if (num(row.devices_offline)) out.push(t('district.reason.offline'));
  return out.length ? out : [t('district.reason.ok')];
}

function statusCell(row) {
  const s = STATUSES.includes(row.status) ? row.status : 'open';
  return h('td', null,
    h('span', { class: 'status-word', text: `${SHAPE[s]} ${t(`district.status.${s}`)}` }),
    h('span', { class: 'status-hint', text: reasons(row).join(t('screen.list_separator')) }));
}

function siteCell(row) {
  const name = row.name || row.id;
  return h('td', null,
    h('a', { class: 'site-link', href: row.screen, title: t('district.open_screen', { name }) }, name),
    h('br'),
    h('span', { class: 'site-kind', text: tOr(`district.kind.${row.kind}`, row.kind || '') }));
}

function unackCell(row) {
  if (!num(row.unack)) return h('td', null, nil());
  const over = num(row.unack_over_60s);
  return h('td', null,
    h('span', { class: 'big', text: t('district.count', { n: row.unack }) }),
    over ? h('span', { class: 'sub sub-alert', text: t('district.unack_over', { n: over }) }) : null,
    row.oldest_unack_at ? waited(row.oldest_unack_at, row.timezone) : null);
}

function alertsCell(row) {
  const counts = row.alerts || {};
  const chips = SEVERITIES.filter((s) => num(counts[s]) > 0).map((s) => h('span', {
    class: `sev sev-${s}`,
    text: t('district.severity_count', { severity: t(`severity.${s}`), n: counts[s] }),
  }));
  return h('td', null, chips.length ? chips : nil());
}

function fireCell(row) {
  const n = num(row.fire_faults);
  return h('td', null, n ? h('span', { class: 'big bad', text: t('district.fire_count', { n }) }) : nil());
}

function devicesCell(row) {
  const total = num(row.devices);
  if (!total) return h('td', null, h('span', { class: 'nil', text: t('district.devices.none') }));
  const offline = num(row.devices_offline);
  const never = num(row.devices_never_heard);
  const held = num(row.devices_maintenance);
  if (!offline && !never && !held) {
    return h('td', null, h('span', { class: 'link-ok', text: t('district.devices.all_online', { n: total }) }));
  }
  return h('td', null,
    offline ? h('span', { class: 'bad', text: t('district.devices.offline', { n: offline }) }) : null,
    never ? h('span', { class: 'sub', text: t('district.devices.never', { n: never }) }) : null,
    held ? h('span', { class: 'sub', text: t('district.devices.maintenance', { n: held }) }) : null);
}

function linkCell(row) {
  const ok = row.link === 'ok' || row.link === 'no_devices';
  return h('td', null,
    h('span', { class: ok ? 'link-ok' : 'link-bad', text: tOr(`district.link.${row.link}`, row.link || '?') }),
    row.last_heard ? since(t('district.last_heard'), row.last_heard, row.timezone) : null);
}

function siteRow(row) {
  return h('tr', { class: 'site-row', data: { site: row.id, status: row.status } },
    statusCell(row), siteCell(row), unackCell(row), alertsCell(row), fireCell(row),
    devicesCell(row), linkCell(row));
}

function renderTotals() {
  const rows = sites();
  const chips = STATUSES.map((s) => [s, rows.filter((r) => r.status === s).length])
    .filter(([, n]) => n > 0)
    .map(([s, n]) => h('span', {
      class: 'total', data: { status: s },
      text: t('district.status_count', { status: `${SHAPE[s]} ${t(`district.status.${s}`)}`, n }),
    }));
  const all = view.summary ? h('span', { class: 'total total-all', text: t('district.sites_total', { n: rows.length }) }) : null;
  $('totals').replaceChildren(...[all, ...chips].filter(Boolean));
}

function renderRows() {
  const rows = sites();
  $('district-loading').hidden = view.summary != null;
  $('district-empty').hidden = view.summary == null || rows.length > 0;
  $('district-table').hidden = rows.length === 0;
  $('district-rows').replaceChildren(...rows.map(siteRow));
}

function alertTitle(a) {
  const own = lang() === 'en' ? a.title_en : a.title;
  return own || tOr(`rule.${a.rule}`, a.rule || '?');
}

/** The orange banner: the watch's own open alerts (once, for every site) and /readyz. */
export function renderSystemBanner() {
  const system = view.summary && Array.isArray(view.summary.system) ? view.summary.system : [];
  const lines = system.map((a) => t('district.system_fault', { title: alertTitle(a) }));
  const checks = view.readyz && view.readyz.checks;
  if (checks && typeof checks === 'object') {
    const failing = Object.entries(checks).filter(([, ok]) => ok === false)
      .map(([k]) => tOr(`screen.checks.${k}`, k));
    if (failing.length) lines.push(t('screen.ready_fail', { names: failing.join(t('screen.list_separator')) }));
  }
  const banner = $('system-banner');
  banner.hidden = lines.length === 0;
  banner.replaceChildren(...lines.map((l) => h('div', { class: 'banner-line' },
    h('span', { class: 'banner-icon', 'aria-hidden': 'true', text: '⚠' }), ` ${l}`)));
}

/** The stream's state in the header, and the red banner while it is lost. */
export function renderConn() {
  renderConnState(view.conn, view.lostSince);
}

export function renderClock() {
  $('clock').textContent = new Date().toLocaleString(locale(), {
    month: 'numeric', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    timeZone: siteZone(),
  });
}

/** Everything again from `view`; the header clock in the sites' zone when they share one. */
export function render() {
  const zones = new Set(sites().map((r) => r.timezone).filter(Boolean));
  if (zones.size === 1) setZone([...zones][0]);
  renderTotals();
  renderRows();
  renderSystemBanner();
  renderConn();
}
