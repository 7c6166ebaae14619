/* Alert cards: what, where, who, how long ago, badges and the buttons for what a person
 * may do next. Cards are updated by key so an unchanged card keeps its element (and the
 * focus of a button on it). Used by the alert list and the room dialog. */
import { lang, t } from './i18n.js';
import { clockText, formatValue } from './format.js';
import { SHAPE, priorityOf, state } from './state.js';
import { agoSpan, h } from './dom.js';
import { alertTitle, deviceName, isSystem, staffName, whereParts } from './labels.js';

/** Shape and words of a priority (never colour alone), with the severity. */
function markerEl(p, severity) {
  return h('div', { class: `marker prio-${p}` },
    h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[p] }),
    h('span', { class: 'prio-text', text: t(`priority.${p}`) }),
    severity ? h('span', {
      class: 'sev-text', text: t('screen.severity_label', { severity: t(`severity.${severity}`) }),
    }) : null);
}

function actionButton(action, label, cls) {
  return h('button', { type: 'button', class: `btn ${cls}`, data: { action }, text: label });
}

/** A supervisor is logged in: she may override a call's bedside reset, with a reason. */
const supervisorOnDuty = () => !!(state.session && state.session.role === 'supervisor');

/** A call is reset at the bedside (rule `reset: bedside`): the card says so instead of a
 *  resolve button; a supervisor gets the override. */
function resetButtons(a) {
  if (a.reset !== 'bedside') {
    return [actionButton('resolve',
      a.latched ? t('screen.button.reset') : t('screen.button.resolve'), 'btn-resolve')];
  }
  return [
    h('span', {
      class: 'bedside-reset', data: { reset: 'bedside' },
      text: t('screen.card.bedside_reset'), title: t('screen.card.bedside_reset_title'),
    }),
    supervisorOnDuty() ? actionButton('override', t('screen.button.override'), 'btn-override') : null,
  ];
}

function cardActions(a) {
  const buttons = [];
  if (a.state === 'active_unack' || a.state === 'cleared_unack') {
    buttons.push(actionButton('ack', t('screen.button.ack'), 'btn-ack'));
  }
  if (a.fire === 'watch' && !a.forwarded_at) {
    buttons.push(actionButton('confirm', t('screen.button.fire'), 'btn-fire'));
    buttons.push(actionButton('dismiss', t('screen.button.dismiss'), 'btn-secondary'));
  }
  buttons.push(...resetButtons(a));
  // a fault or supervisory signal left as it is may be a fire hazard (记为隐患); an
  // emergency card keeps its few buttons, and the watch's own alerts are no hazard
  if (priorityOf(a) === 'trouble' && !isSystem(a) && a.rule !== 'hazard_overdue') {
    buttons.push(actionButton('hazard', t('hazards.record'), 'btn-secondary'));
  }
  if (a.state === 'shelved') {
    buttons.push(actionButton('unshelve', t('screen.button.unshelve'), 'btn-secondary'));
  } else if (!a.latched) {
    buttons.push(actionButton('shelve', t('screen.button.shelve'), 'btn-secondary'));
  }
  return h('div', { class: 'actions' }, buttons);
}

function statusLine(text) {
  return h('div', { class: 'status-line', text });
}

function cardStatusLines(a) {
  const lines = [];
  if (a.acknowledged_at && a.state !== 'active_unack') {
    const who = staffName(a.acknowledged_by);
    lines.push(h('div', { class: 'status-line' },
      who ? t('screen.card.acked_by', { name: who }) : t('screen.card.acked'), ' · ',
      agoSpan(a.acknowledged_at, 'ago-inline')));
  }
  if (a.state === 'cleared_unack' && (a.condition_cleared_at || a.cleared_at)) {
    lines.push(h('div', { class: 'status-line' }, t('screen.card.cleared'), ' · ',
      agoSpan(a.condition_cleared_at || a.cleared_at, 'ago-inline')));
  }
  if (a.state === 'shelved' && a.shelved_until) {
    lines.push(statusLine(t('screen.card.shelved_until', { time: clockText(a.shelved_until) })));
  }
  if (Number(a.escalation_level) > 0) {
    lines.push(statusLine(t('screen.card.escalated', { n: a.escalation_level })));
  }
  if (a.note) lines.push(h('div', { class: 'status-line note', text: t('screen.card.note', { note: a.note }) }));
  return lines;
}

function badges(a) {
  const n = Number(a.occurrences) || 1;
  const badge = (cls, text, title) => h('span', { class: `badge ${cls}`, text, title });
  return [
    badge(`badge-state state-${a.state}`, t(`state.${a.state}`)),
    n > 1 ? badge('badge-count', t('screen.badge.occurrences', { n }),
      t('screen.badge.occurrences_title', { n })) : null,
    a.chattering ? badge('badge-chatter', t('screen.badge.chattering')) : null,
    a.latched ? badge('badge-latched', t('screen.badge.latched')) : null,
    a.forwarded_at
      ? badge('badge-forwarded', t('screen.badge.forwarded', { time: clockText(a.forwarded_at) })) : null,
  ];
}

function cardSignature(a) {
  const boss = supervisorOnDuty() ? 1 : 0;
  return `${lang()}|${state.meta ? 1 : 0}|${state.devices ? 1 : 0}|${boss}|${JSON.stringify(a)}`;
}

/** One alert as a card (article.alert-card[data-alert-id][data-state]). */
export function renderCard(a) {
  const p = priorityOf(a);
  const where = whereParts(a);
  const valueText = typeof a.value === 'number'
    ? t('screen.card.value', { value: formatValue(a.value) }) : formatValue(a.value);
  const device = isSystem(a) ? a.device_id
    : String(a.device_id || '').startsWith('floor:') ? t('screen.where.correlated')
      : deviceName(a.device_id, a.device_type);
  return h('article', {
    class: `alert-card prio-${p} sev-${a.severity || 'unknown'} state-${a.state}${isSystem(a) ? ' system' : ''}`,
    data: { alertId: String(a.id), state: a.state, priority: p, sig: cardSignature(a) },
  },
  markerEl(p, a.severity),
  h('div', { class: 'card-body' },
    h('h3', { class: 'title', text: alertTitle(a) }),
    h('div', { class: 'where' },
      where.join(' · '),
      a.resident_name ? [where.length ? ' · ' : '', h('strong', { class: 'resident', text: a.resident_name })] : null),
    h('div', { class: 'device' }, device, valueText ? ` · ${valueText}` : ''),
    h('div', { class: 'badges' }, badges(a)),
    cardStatusLines(a)),
  h('div', { class: 'when' },
    agoSpan(a.raised_at, 'ago big'),
    h('span', { class: 'clock-small', text: t('screen.card.raised_at', { time: clockText(a.raised_at) }) })),
  cardActions(a));
}

/** Keyed update of a list of cards: unchanged cards keep their element (and focus). */
export function syncCards(container, alerts) {
  const existing = new Map();
  for (const el of container.children) existing.set(el.dataset.alertId, el);
  let prev = null;
  for (const a of alerts) {
    const key = String(a.id);
    let el = existing.get(key);
    if (el && el.dataset.sig !== cardSignature(a)) {
      const fresh = renderCard(a);
      el.replaceWith(fresh);
      el = fresh;
    } else if (!el) {
      el = renderCard(a);
    }
    existing.delete(key);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (el !== want) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of existing.values()) el.remove();
}

/** Redraw every card on the next pass (names, rooms or devices became known). */
export function invalidateCards() {
  for (const el of document.querySelectorAll('.alert-card')) el.dataset.sig = '';
}

/** Disable a card's buttons while its action is on its way. */
export function setButtonsBusy(alertId, busy) {
  for (const card of document.querySelectorAll(`.alert-card[data-alert-id="${CSS.escape(String(alertId))}"]`)) {
    for (const b of card.querySelectorAll('button[data-action]')) b.disabled = busy;
  }
}
