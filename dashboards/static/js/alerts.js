/* The alerts tab: the open alerts most urgent first, the all-clear, the bulk
 * acknowledgement of recovered trouble alerts, and the recent-activity list beside it. */
import { t, tOr } from './i18n.js';
import { clockText } from './format.js';
import { sortedAlerts, state } from './state.js';
import { $, h } from './dom.js';
import { alertTitle, staffName, whereParts } from './labels.js';
import { syncCards } from './cards.js';

/** Recovered trouble alerts (device back online etc.) that only need a nod. */
export function recoveredTroubleIds() {
  return sortedAlerts((a) => a.state === 'cleared_unack' && a.priority === 'trouble').map((a) => String(a.id));
}

export function renderAlertsView() {
  const list = sortedAlerts();
  syncCards($('alerts-view'), list);
  $('alerts-loading').hidden = state.snapshotReceived;
  $('alerts-empty').hidden = !state.snapshotReceived || list.length > 0;
  const unack = list.filter((a) => a.state === 'active_unack').length;
  $('tab-count-alerts').textContent = list.length ? `(${unack ? `${unack}/` : ''}${list.length})` : '';
  document.querySelector('.tab[data-view="alerts"]').classList.toggle('has-unack', unack > 0);
  document.title = `${unack ? `(${unack}) ` : ''}${t('screen.app_name')}`;
  const recovered = list.filter((a) => a.state === 'cleared_unack' && a.priority === 'trouble').length;
  $('bulk-bar').hidden = recovered < 2;
  $('ack-cleared-all').textContent = t('screen.ack_all_recovered', { n: recovered });
}

export function renderRecent() {
  const ol = $('recent-list');
  ol.replaceChildren(...state.recent.map(({ change: c, replay }) => {
    const a = c.alert || {};
    const who = c.by ? staffName(c.by) : '';
    return h('li', { class: `recent-item${replay ? ' replayed' : ''} prio-${a.priority || 'trouble'}` },
      h('span', { class: 'recent-time', text: clockText(c.at) }),
      ' ',
      h('span', { class: 'recent-action', text: tOr(`screen.action.${c.action}`, String(c.action)) }),
      ' ',
      h('span', { class: 'recent-what', text: [alertTitle(a), ...whereParts(a)].filter(Boolean).join(' · ') }),
      who && !String(c.by).startsWith('system:') ? h('span', { class: 'recent-by', text: ` · ${who}` }) : null,
      replay ? h('span', { class: 'recent-away', text: ` (${t('screen.while_away')})` }) : null);
  }));
  $('recent-empty').hidden = state.recent.length > 0;
}
