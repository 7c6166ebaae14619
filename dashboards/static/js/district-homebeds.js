/* The district page's home-bed panel (家庭床位, docs/district.md "Home beds"): for a month,
 * per home bed and for the district, the calls a person answered within 60 s, the first
 * human contact, the calls that sent help, check-in compliance and the monthly visit rate
 * (月探访率), and each community worker's rate. GET /api/district/home-beds?month= at
 * start, every minute and when the month is changed; the figures are the server's (the
 * watch report's), the page only draws them. Hidden when the caller has no home bed.
 *
 * Stable DOM: #home-beds, #hb-month, tr.hb-row[data-site], tr.hb-total,
 * tr.hb-worker[data-worker]. */
import { duration, t } from './i18n.js';
import { getJson } from './api.js';
import { $, h } from './dom.js';

const REFRESH_MS = 60000;

/** The last answer of the server, and the month asked for ('' = this month). */
export const homeView = { data: null, month: '' };

const num = (v) => (Number.isFinite(v) ? v : 0);
const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '—');
const secs = (v) => (Number.isFinite(v) ? duration(Math.round(v)) : '—');
const sub = (text, cls = 'sub') => h('span', { class: cls, text });

function callsCell(c) {
  const e = c.emergency || {};
  return h('td', { class: 'num' },
    h('span', { class: 'big', text: t('district.home.calls', { n: num(c.calls.calls) }) }),
    sub(t('district.home.emergency', { n: num(e.calls) })));
}

function answeredCell(c) {
  const a = c.calls || {};
  const of = num(a.calls) - num(a.pending);
  return h('td', { class: 'num' },
    h('span', { class: 'big', text: pct(a.share_within_60s) }),
    sub(t('district.home.within', { within: num(a.within_60s), of })),
    num(a.unanswered) ? sub(t('district.home.unanswered', { n: a.unanswered }), 'sub sub-alert') : null);
}

function contactCell(c) {
  const a = c.calls || {};
  return h('td', null,
    h('span', { class: 'hb-median', text: t('district.home.contact', { median: secs(a.median_contact_s), p90: secs(a.p90_contact_s) }) }),
    num(a.no_contact) ? sub(t('district.home.no_contact', { n: a.no_contact })) : null);
}

function checkinCell(k) {
  return h('td', { class: 'num' },
    h('span', { class: 'big', text: pct(k.share) }),
    sub(t('district.home.checkin', { on_time: num(k.on_time), days: num(k.days) })));
}

function visitsCell(v, notVisited) {
  if (!num(v.planned)) return h('td', null, h('span', { class: 'nil', text: t('district.home.no_plan') }));
  const low = Number.isFinite(v.rate) && v.rate < 1;
  return h('td', { class: 'num' },
    h('span', { class: `big${low ? ' bad' : ''}`, text: pct(v.rate) }),
    sub(t('district.home.visits', { visited: num(v.visited), planned: num(v.planned) })),
    notVisited && notVisited.length ? sub(t('district.home.not_visited', { residents: notVisited.join(t('screen.list_separator')) })) : null);
}

function siteRow(s) {
  return h('tr', { class: 'hb-row', data: { site: s.id } },
    h('td', null, h('span', { class: 'hb-site', text: s.name || s.id })),
    callsCell(s), answeredCell(s), contactCell(s),
    h('td', { class: 'num' }, h('span', { class: 'big', text: t('district.home.help', { n: num(s.help_sent) }) })),
    checkinCell(s.checkin || {}), visitsCell(s.visits || {}, s.not_visited));
}

function totalRow(d) {
  return h('tr', { class: 'hb-total' },
    h('td', null, h('span', { class: 'hb-site', text: t('district.home.total', { n: num(d.sites) }) })),
    callsCell(d), answeredCell(d), contactCell(d),
    h('td', { class: 'num' }, h('span', { class: 'big', text: t('district.home.help', { n: num(d.help_sent) }) })),
    checkinCell(d.checkin || {}), visitsCell(d.visits || {}, null));
}

function workerRow(w) {
  return h('tr', { class: 'hb-worker', data: { worker: w.worker } },
    h('td', { text: w.worker }),
    h('td', { text: (w.sites || []).join(t('screen.list_separator')) }),
    h('td', { class: 'num' }, h('span', { class: 'big', text: pct(w.rate) }),
      sub(t('district.home.visits', { visited: num(w.visited), planned: num(w.planned) }))),
    h('td', { class: 'num', text: String(num(w.visits)) }));
}

const head = (keys) => h('thead', null, h('tr', null, ...keys.map((k) => h('th', { scope: 'col', text: t(k) }))));

/** The panel again from `homeView` (after a load, and when the language changes). */
export function renderHomeBeds() {
  const panel = $('home-beds');
  const data = homeView.data;
  const sites = data && Array.isArray(data.sites) ? data.sites : [];
  panel.hidden = !data || sites.length === 0;
  if (panel.hidden) return;
  const picker = $('hb-month');
  if (picker && !picker.value && data.month) picker.value = data.month;
  const cols = ['site', 'calls', 'within_60s', 'contact', 'help', 'checkin', 'visits'].map((c) => `district.home.col.${c}`);
  $('hb-table').replaceChildren(head(cols), h('tbody', null, ...sites.map(siteRow), totalRow(data.district || {})));
  const workers = (data.district && data.district.visits && data.district.visits.by_worker) || [];
  $('hb-workers-title').hidden = workers.length === 0;
  const wcols = ['worker', 'sites', 'rate', 'visits'].map((c) => `district.home.wcol.${c}`);
  $('hb-workers').replaceChildren(...(workers.length ? [head(wcols), h('tbody', null, ...workers.map(workerRow))] : []));
}

/** GET the month's figures (the month picked, else this month) and draw them. */
export async function loadHomeBeds() {
  const q = homeView.month ? `?month=${encodeURIComponent(homeView.month)}` : '';
  const res = await getJson(`/api/district/home-beds${q}`);
  if (res.ok && res.data && Array.isArray(res.data.sites)) {
    homeView.data = res.data;
    renderHomeBeds();
  }
}

/** Load now, again every minute, and when the month is changed. */
export function startHomeBeds() {
  const picker = $('hb-month');
  picker.addEventListener('change', () => { homeView.month = picker.value; loadHomeBeds(); });
  loadHomeBeds();
  setInterval(loadHomeBeds, REFRESH_MS);
}
