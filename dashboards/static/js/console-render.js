/* The call-centre console's drawing: the queue (waiting calls, then calls in hand), the
 * selected call's card (home, resident, contacts with one-click results, outcomes, the
 * call's trail, the home's last 24 hours), the clock and the connection. Pure DOM over
 * `view`; console.js fills it. Every time is the call's site's (its time zone); waiting
 * times count up once a second (refreshWaits). */
import { duration, lang, locale, t, tOr } from './i18n.js';
import { ms, secondsSince } from './format.js';
import { $, h } from './dom.js';
import { renderConnState } from './conn.js';

/** What the page shows: the queue, the selected call and its card, the stream's state. */
export const view = { queue: [], selected: null, card: null, conn: 'connecting', lostSince: null, loaded: false };

const SHAPE = { critical: '▲', high: '▲', medium: '●', low: '■' };

/** The clock time of `iso` in zone `tz`, with the date when not today there. */
function zoned(iso, tz, withSeconds = false) {
  const v = ms(iso);
  if (!Number.isFinite(v)) return '';
  const opts = { hour: '2-digit', minute: '2-digit', hour12: false };
  if (withSeconds) opts.second = '2-digit';
  const day = (d) => { try { return d.toLocaleDateString('en-CA', { timeZone: tz }); } catch (_e) { return ''; } };
  if (day(new Date()) !== day(new Date(v))) { opts.month = 'numeric'; opts.day = 'numeric'; }
  try {
    return new Date(v).toLocaleString(locale(), { ...opts, timeZone: tz });
  } catch (_e) {
    return new Date(v).toLocaleString(locale(), opts);
  }
}

const titleOf = (a) => (lang() === 'zh' ? a.title : a.title_en || a.title);
const waitText = (iso) => duration(secondsSince(iso) || 0);
const sep = () => tOr('screen.list_separator', ', ');
const colon = () => tOr('console.colon', ': ');

/** A waiting time that counts up (refreshWaits keeps every [data-since] current). */
function waitSpan(iso, cls) {
  return h('span', { class: cls, data: { since: iso }, text: waitText(iso) });
}

export function refreshWaits() {
  for (const el of document.querySelectorAll('[data-since]')) {
    const txt = waitText(el.dataset.since);
    if (el.textContent !== txt) el.textContent = txt;
  }
}

function triedText(call) {
  const tried = call.tried || [];
  if (!tried.length) return t('console.nothing_tried');
  return t('console.tried') + tried.map((x) => `${x.contact_label || x.contact} ${t(`contact_result.${x.result}`)}`).join(sep());
}

function callItem(call) {
  const sev = call.severity || 'low';
  const current = String(view.selected) === String(call.id);
  const btn = h('button', {
    type: 'button', class: 'call', 'aria-current': current ? 'true' : 'false',
    data: { alert: call.id, waiting: String(!!call.waiting), severity: sev, site: call.site },
  },
  h('div', { class: 'call-top' },
    h('span', { class: 'call-title', text: `${SHAPE[sev] || '●'} ${titleOf(call)}` }),
    call.waiting ? waitSpan(call.raised_at, 'call-wait') : null),
  h('div', { class: 'call-who', text: [call.resident_name, call.site_name].filter(Boolean).join(' · ') }),
  h('div', { class: 'call-sub', text: t('console.raised_at', { time: zoned(call.raised_at, call.timezone) }) }),
  call.outcome ? h('div', { class: 'call-outcome', text: `✓ ${t(`outcome.${call.outcome}`)}` }) : null,
  h('div', { class: 'call-tried', text: triedText(call) }));
  return h('li', null, btn);
}

function renderQueue() {
  const waiting = view.queue.filter((c) => c.waiting);
  const inHand = view.queue.filter((c) => !c.waiting);
  $('queue-loading').hidden = view.loaded;
  $('waiting-count').textContent = view.loaded ? `(${waiting.length})` : '';
  $('in-hand-count').textContent = view.loaded ? `(${inHand.length})` : '';
  $('no-waiting').hidden = !view.loaded || waiting.length > 0;
  $('no-in-hand').hidden = !view.loaded || inHand.length > 0;
  $('queue-waiting').replaceChildren(...waiting.map(callItem));
  $('queue-in-hand').replaceChildren(...inHand.map(callItem));
}

function contactItem(c, tz, open) {
  const label = [c.relation, c.name].filter(Boolean).join(' ');
  const meta = [t(`console.role.${c.role}`), (c.channels || []).map((x) => t(`console.channel.${x}`)).join('/')];
  if (c.quiet_hours) meta.push(t('console.quiet_hours', c.quiet_hours));
  const last = c.last
    ? h('div', { class: 'contact-last', data: { result: c.last.result },
      text: t('console.last_attempt', { result: t(`contact_result.${c.last.result}`), time: zoned(c.last.at, tz) }) })
    : null;
  const button = (result, cls) => h('button', {
    type: 'button', class: `btn contact-btn ${cls}`, disabled: !open,
    data: { contact: c.id, result, label },
  }, t(`contact_result.${result}`));
  return h('li', { class: 'contact', data: { contact: c.id } },
    h('div', null, h('span', { class: 'contact-name', text: label }),
      h('span', { class: 'contact-role', text: meta.join(' · ') })),
    h('div', { class: 'contact-buttons' }, button('reached', 'btn-reached'), button('no_answer', 'btn-no-answer')),
    h('a', { class: 'contact-phone', href: `tel:${c.phone}`, text: c.phone }),
    last);
}

function trailItem(row, tz) {
  let what = tOr(`screen.action.${row.action}`, row.action);
  if (row.result) what = `${row.contact_label || row.contact}${colon()}${t(`contact_result.${row.result}`)}`;
  else if (row.outcome) what = `${what}${colon()}${t(`outcome.${row.outcome}`)}`;
  else if (row.target) what = t('console.escalated_to', { target: tOr(`target.${row.target}`, row.target) });
  return h('li', { data: { action: row.action } },
    h('span', { class: 'when', text: zoned(row.at, tz, true) }),
    h('span', { class: 'what', text: what }),
    row.by ? h('span', { class: 'by', text: row.by }) : null);
}

function eventItem(e, tz) {
  const what = e.kind === 'alert'
    ? (lang() === 'zh' ? e.title : e.title_en || e.title)
    : tOr(`console.event.${e.event}`, e.event);
  return h('li', { data: { kind: e.kind } },
    h('span', { class: 'when', text: zoned(e.at, tz) }),
    h('span', { class: 'what', text: what }),
    h('span', { class: 'muted', text: e.device_label || tOr(`device_type.${e.device_type}`, e.device_id || '') }));
}

function renderCard() {
  const el = $('card');
  const card = view.card;
  if (!card || String(card.alert.id) !== String(view.selected)) {
    el.replaceChildren(h('p', { class: 'pick muted', text: t('console.pick_call') }));
    return;
  }
  const a = card.alert;
  const tz = card.site.timezone;
  const open = a.state !== 'closed';
  const waiting = open && !a.acknowledged_at;
  const state = !open ? t('console.state_closed') : waiting ? null : t('console.state_in_hand');
  const r = card.resident;
  el.replaceChildren(h('div', { class: 'card', data: { alert: a.id, state: a.state } },
    h('div', { class: 'card-head' },
      h('span', { class: 'card-title', text: `${SHAPE[a.severity] || '●'} ${titleOf(a)}` }),
      waiting ? h('span', null, `${t('console.waited')} `, waitSpan(a.raised_at, 'card-wait')) : null,
      state ? h('span', { class: 'card-state', data: { state: a.state }, text: state }) : null),
    h('div', { class: 'card-site', text: `${t('console.raised_at', { time: zoned(a.raised_at, tz, true) })} · ${card.site.name}` }),
    r ? h('div', { class: 'resident-name', text: `${t('console.resident')}${colon()}${r.name}` }) : null,
    h('div', { class: 'card-address', text: `${t('console.address')}${colon()}${card.site.address || '—'}` }),
    h('div', { class: 'care-notes' }, `${t('console.care_notes')}${colon()}`, r && r.care_notes ? r.care_notes : t('console.no_care_notes')),
    h('h3', { text: t('console.contacts') }),
    card.contacts.length
      ? h('ol', { class: 'contacts' }, card.contacts.map((c) => contactItem(c, tz, open)))
      : h('p', { class: 'muted', text: t('console.no_contacts') }),
    h('h3', { text: t('console.outcomes') }),
    h('div', { class: 'outcomes' }, card.outcomes.map((o) => h('button', {
      type: 'button', class: 'btn outcome-btn', disabled: !open,
      data: { code: o.code, closes: String(o.closes), help: String(o.help_sent) },
    }, h('span', { text: t(`outcome.${o.code}`) }),
    o.closes ? h('span', { class: 'sub', text: t('console.outcome_closes') }) : null))),
    h('h3', { text: t('console.history') }),
    h('ol', { class: 'trail' }, card.history.map((x) => trailItem(x, tz))),
    h('h3', { text: t('console.events') }),
    card.events.length
      ? h('ol', { class: 'events' }, card.events.map((e) => eventItem(e, tz)))
      : h('p', { class: 'muted', text: t('console.no_events') })));
}

export function renderConn() {
  renderConnState(view.conn, view.lostSince);
}

/** The header clock, in the zone of the first call's site (the browser's without calls). */
export function renderClock() {
  const tz = (view.queue[0] && view.queue[0].timezone) || undefined;
  const opts = { month: 'numeric', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  let text;
  try { text = new Date().toLocaleString(locale(), { ...opts, timeZone: tz }); } catch (_e) { text = new Date().toLocaleString(locale(), opts); }
  $('clock').textContent = text;
}

export function render() {
  renderClock();
  renderQueue();
  renderCard();
  renderConn();
}
