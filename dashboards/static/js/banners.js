/* The header and the banners: connection state, the red "connection lost" banner, the
 * orange banner when the watch itself is degraded, the clock and the site's name. */
import { locale, t, tOr } from './i18n.js';
import { siteZone } from './format.js';
import { sortedAlerts, state } from './state.js';
import { $, h } from './dom.js';
import { renderConnState } from './conn.js';
import { alertTitle, isSystem } from './labels.js';

export function renderConn() {
  renderConnState(state.conn, state.lostSince);
}

export function renderSystemBanner() {
  const lines = [];
  for (const a of sortedAlerts(isSystem)) lines.push(t('screen.system_fault', { title: alertTitle(a) }));
  const r = state.readyz;
  if (r && r.checks && typeof r.checks === 'object') {
    const failing = Object.entries(r.checks).filter(([, ok]) => ok === false)
      .map(([k]) => tOr(`screen.checks.${k}`, k));
    if (failing.length) lines.push(t('screen.ready_fail', { names: failing.join(t('screen.list_separator')) }));
  } else if (r && r.ok === false) {
    lines.push(t('screen.ready_fail', { names: '?' }));
  }
  const banner = $('system-banner');
  banner.hidden = lines.length === 0;
  banner.replaceChildren(...lines.map((l) => h('div', { class: 'banner-line' },
    h('span', { class: 'banner-icon', 'aria-hidden': 'true', text: '⚠' }), ` ${l}`)));
}

export function renderClock() {
  $('clock').textContent = new Date().toLocaleString(locale(), {
    month: 'numeric', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    timeZone: siteZone(),
  });
}

export function renderSite() {
  const site = state.meta && state.meta.site;
  $('site-name').textContent = site && site.name ? site.name : '';
}
