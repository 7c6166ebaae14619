/* The notifications tab: the delivery log of what left the building (fire brigade,
 * supervisors, the MQTT alert topic), each delivered, retrying or given up; the tab's
 * count says "!" while any is failing. */
import { t, tOr } from './i18n.js';
import { clockText } from './format.js';
import { state } from './state.js';
import { $, h } from './dom.js';
import { alertTitle, ruleTitle } from './labels.js';
import { getJson } from './api.js';

const COLUMNS = ['when', 'target', 'what', 'status'];

export async function refreshNotifications() {
  const res = await getJson('/api/notifications?limit=100');
  if (res.ok && Array.isArray(res.data)) {
    state.notifications = res.data;
    renderNotifications();
  }
}

function statusText(n) {
  const base = n.state === 'delivered' ? t('screen.notif.delivered')
    : n.state === 'failed' ? t('screen.notif.failed')
      : n.attempts ? t('screen.notif.retrying', { n: n.attempts }) : t('screen.notif.sending');
  return base + (n.last_error && n.state !== 'delivered' ? ` · ${n.last_error}` : '');
}

function what(n) {
  const a = state.alerts.get(String(n.alert_id));
  const title = n.rule ? ruleTitle(n.rule) : '';
  return `${title || (a ? alertTitle(a) : `#${n.alert_id}`)} · ${tOr(`screen.action.${n.action}`, String(n.action))}`;
}

function row(n) {
  return h('tr', { class: `notif-row notif-${n.state}`, data: { key: n.key } },
    h('td', { text: clockText(n.created_at) }),
    h('td', { text: tOr(`target.${n.target}`, String(n.target)) }),
    h('td', { text: what(n) }),
    h('td', { text: statusText(n) }));
}

export function renderNotifications() {
  const rows = Array.isArray(state.notifications) ? state.notifications : [];
  const failing = rows.filter((n) => n.state === 'failed' || (n.state === 'pending' && n.attempts > 0));
  $('tab-count-notifications').textContent = failing.length ? `(${failing.length}!)` : '';
  if (state.view !== 'notifications') return;
  $('notifications-view').replaceChildren(
    h('h2', { class: 'notif-title', text: t('screen.notif.title') }),
    rows.length ? h('table', { class: 'notif-table' },
      h('thead', {}, h('tr', {}, COLUMNS.map((k) => h('th', { text: t(`screen.notif.${k}`) })))),
      h('tbody', {}, rows.map(row)))
      : h('p', { class: 'muted', text: t('screen.notif.empty') }));
}
