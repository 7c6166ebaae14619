/* The rounds tab (巡查): per patrol route the round in progress (or the next, upcoming),
 * its checkpoints done / due / late / missed with who and when, and the next round's
 * start, every time in the site's time zone (GET /api/rounds, docs/screen.md). The tab's
 * count says "!" while a route's round is missed. */
import { lang, t } from './i18n.js';
import { siteZone } from './format.js';
import { state } from './state.js';
import { $, h } from './dom.js';
import { getJson } from './api.js';
import { floorLabel, roomLabel, staffName } from './labels.js';

let rounds = null; // the last answer of /api/rounds

export async function refreshRounds() {
  const res = await getJson('/api/rounds');
  if (res.ok && res.data && Array.isArray(res.data.routes)) {
    rounds = res.data;
    renderRounds();
  }
}

/** HH:MM in the site's zone (the rounds' own), with the day when it is another one. */
function hhmm(ms, withDay = false) {
  const opts = { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: (rounds && rounds.timezone) || siteZone() };
  if (withDay) { opts.month = 'numeric'; opts.day = 'numeric'; }
  return new Date(ms).toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB', opts);
}

function named(x) { return lang() === 'en' && x.name_en ? x.name_en : x.name; }

function point(p) {
  const place = [floorLabel(p.floor), roomLabel(p.room, p.floor)].filter(Boolean).join(' · ');
  return h('li', { class: `round-point point-${p.status}`, data: { checkpoint: p.id, status: p.status } },
    h('span', { class: 'point-name', text: named(p) }),
    h('span', { class: 'point-place muted', text: place }),
    h('span', { class: 'point-when', text: p.at_ms ? t('rounds.by', { by: p.by ? staffName(p.by) : '', time: hhmm(p.at_ms) }) : '' }),
    h('span', { class: 'point-badge', text: t(`rounds.point.${p.status}`) }));
}

function counts(cur) {
  const n = (s) => cur.checkpoints.filter((p) => p.status === s).length;
  const done = n('done') + n('late');
  return [
    t('rounds.done_count', { done, total: cur.checkpoints.length }),
    n('late') ? t('rounds.late_count', { n: n('late') }) : '',
    n('missed') ? t('rounds.missed_count', { n: n('missed') }) : '',
  ].filter(Boolean).join(' · ');
}

function route(r) {
  const cur = r.current;
  const head = h('div', { class: 'round-head' },
    h('h3', { text: named(r) }),
    cur ? h('span', { class: `round-status status-${cur.status}`, text: t(`rounds.status.${cur.status}`) }) : null);
  if (!cur) return h('section', { class: 'round-route', data: { route: r.id } }, head);
  const sub = h('p', { class: 'round-sub' },
    `${t('rounds.current')} ${hhmm(cur.start_ms, true)} · ${t('rounds.due_by', { time: hhmm(cur.due_ms) })}`
    + ` · ${t('rounds.grace_until', { time: hhmm(cur.grace_until_ms) })}`);
  const next = h('p', { class: 'round-next' },
    `${t('rounds.next')}: ${r.next_start_ms ? hhmm(r.next_start_ms, true) : t('rounds.none_next')}`);
  return h('section', { class: `round-route route-${cur.status}`, data: { route: r.id, status: cur.status } },
    head, sub, h('p', { class: 'round-counts', text: counts(cur) }),
    h('ol', { class: 'round-points' }, cur.checkpoints.map(point)), next);
}

export function renderRounds() {
  const routes = rounds ? rounds.routes : [];
  const missed = routes.filter((r) => r.current && r.current.status === 'missed').length;
  $('tab-count-rounds').textContent = missed ? `(${missed}!)` : '';
  if (state.view !== 'rounds') return;
  $('rounds-view').replaceChildren(
    h('h2', { class: 'rounds-title', text: t('rounds.title') }),
    routes.length ? h('div', { class: 'round-routes' }, routes.map(route))
      : h('p', { class: 'muted', text: t('rounds.empty') }));
}
