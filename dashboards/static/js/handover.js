/* CareWatch shift handover panel, its own entry module (index.html): the last shift's
 * figures, this shift so far, and what is still open, from GET /api/reports/handover; a
 * link opens the printable report of the last shift. It shares the screen's i18n module
 * (language, catalog texts under `handover`), api.js (the read token, the site) and
 * sites.js (which site).
 * Test hook: window.carewatchHandover = {refresh(), data()}. */
import { lang, ready, t } from './i18n.js';
import { getJson, readToken, withSite } from './api.js';
import { siteReady } from './sites.js';

const TARGET = 0.985; // share of emergency calls answered within 60 s
const REFRESH_MS = 60000;
let data = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function hhmm(iso) { return iso ? iso.slice(11, 16) : ''; }
function shiftName(s) { return (lang() === 'en' && s.name_en) || s.name; }
function shiftSpan(s) { return `${shiftName(s)} ${hhmm(s.start)}–${hhmm(s.end)}`; }
function seconds(s) {
  return s < 120 ? t('handover.seconds', { s: Math.round(s) }) : t('handover.minutes', { m: Math.round(s / 60) });
}

function shiftLines(s) {
  const e = s.emergency;
  const counted = e.waits - e.pending;
  const lines = [];
  const first = el('div', 'ho-line', `${t('handover.alerts', { n: s.alerts })} · `);
  if (counted > 0) {
    const share = e.share_within_60s;
    first.append(el('span', share >= TARGET ? 'ho-ok' : 'ho-bad', t('handover.within', {
      answered: e.within_60s, counted, share: `${(share * 100).toFixed(0)}%`,
    })));
    if (e.median_ack_s !== null) first.append(` · ${t('handover.median', { time: seconds(e.median_ack_s) })}`);
  } else if (e.pending > 0) {
    // emergencies all still waiting: "none" would read as "no emergency" to a carer
    first.append(el('span', 'ho-bad', t('handover.emergency_waiting', { n: e.pending })));
  } else {
    first.append(t('handover.no_emergency'));
  }
  lines.push(first);
  if (s.unanswered.length) {
    lines.push(el('div', 'ho-line ho-bad', t('handover.unanswered', { n: s.unanswered.length })));
    const ul = el('ul', 'ho-list');
    for (const u of s.unanswered.slice(0, 3)) {
      const title = lang() === 'en' ? u.title_en : u.title_zh;
      const where = [u.room && t('handover.room', { room: u.room }), u.bed && t('handover.bed', { bed: u.bed })]
        .filter(Boolean).join(' ');
      ul.append(el('li', '', `${hhmm(u.since)} ${title} ${where}`));
    }
    lines.push(ul);
  }
  return lines;
}

function block(label, shift) {
  const b = el('div', 'ho-block');
  const head = el('div', 'ho-label', label);
  if (shift) head.append(` · ${shiftSpan(shift)}`);
  b.append(head);
  if (shift) b.append(...shiftLines(shift));
  return b;
}

function reportLink() {
  const link = el('a', '', t('handover.report'));
  link.id = 'handover-report';
  // a plain link cannot send the viewer token as a header: it rides in the URL, as the
  // screen's own event stream does
  const token = readToken();
  link.href = withSite(`/api/reports/watch.html?shift=previous&lang=${lang()}`)
    + (token ? `&access_token=${encodeURIComponent(token)}` : '');
  link.target = '_blank';
  link.rel = 'noopener';
  return link;
}

function render() {
  const box = document.getElementById('handover');
  if (!box || !data) return;
  const title = el('h2', '', t('handover.title'));
  if (data.current) title.append(el('span', 'ho-shift', shiftSpan(data.current)));
  const open = el('div', 'ho-block');
  open.append(el('div', 'ho-label', t('handover.open')));
  const o = data.open;
  open.append(el('div', o.unacknowledged ? 'ho-line ho-bad' : 'ho-line',
    t('handover.open_line', { n: o.alerts, unacked: o.unacknowledged })));
  if (o.offline_devices.length) {
    open.append(el('div', 'ho-line', `${t('handover.offline', { n: o.offline_devices.length })}: `
      + o.offline_devices.slice(0, 6).join(', ') + (o.offline_devices.length > 6 ? ' …' : '')));
  }
  const parts = [title];
  if (data.previous) parts.push(block(t('handover.last'), data.previous));
  if (data.current) parts.push(block(t('handover.now'), data.current));
  const links = el('div', 'ho-block');
  links.append(reportLink());
  parts.push(open, links);
  box.replaceChildren(...parts);
  box.hidden = false;
}

async function refresh() {
  const res = await getJson('/api/reports/handover');
  if (!res.ok || !res.data) return; // the screen's own banner reports a lost connection
  data = res.data;
  render();
}

async function start() {
  await ready();
  if (!(await siteReady())) return; // the screen's site is being chosen
  refresh();
  setInterval(refresh, REFRESH_MS);
  document.addEventListener('carewatch:lang', render);
}

window.carewatchHandover = { refresh, data: () => data };
start();
