/* CareWatch call-centre console: the entry module (console.html loads it). The queue of
 * open home calls across the operator's sites on the left, the selected call's card on the
 * right; contact attempts and outcomes are one click each. Live: the alert stream
 * (/api/alerts/stream, sse.js) wakes the page after every committed change and it reads
 * the queue (and the open card) again, so a new call shows within a second.
 * Reuses the duty screen's i18n, api, dom and format modules; the drawing is
 * console-render.js.
 *
 * Test hooks: window.carewatchConsole = {queue(), card(), conn(), select(id), setLang(l)}.
 * Stable DOM: li > button.call[data-alert][data-waiting], #card, button.contact-btn
 * [data-contact][data-result], button.outcome-btn[data-code], #operator-id, #lang-toggle. */
import { nextLanguage, readyOrStart, setLanguage, t } from './i18n.js';
import { $, applyStaticI18n, toast } from './dom.js';
import { getJson, postJson, readToken, saveReadToken } from './api.js';
import { readStorage, writeStorage } from './storage.js';
import { liveStream } from './sse.js';
import { refreshWaits, render, renderClock, renderConn, view } from './console-render.js';

const CATALOG_WAIT_MS = 5000;
const OPERATOR = 'carewatch.operator';

let stream = null;
let readyFailures = 0;
let reading = false;
let again = false;

function relabel() {
  applyStaticI18n();
  document.title = t('console.app_name');
  $('operator-id').placeholder = t('console.operator_placeholder');
  renderClock();
  render();
}

/** The queue, and the selected call's card, read again. */
async function refresh() {
  if (reading) { again = true; return; }
  reading = true;
  try {
    const res = await getJson('/api/console/queue');
    if (res.ok && Array.isArray(res.data)) {
      view.queue = res.data;
      if (view.selected == null) {
        const first = view.queue.find((c) => c.waiting) || view.queue[0];
        if (first) view.selected = first.id;
      }
      if (view.loaded) render(); // the queue before the card's read: a new call shows now
    } else if (res.status === 401 && !readToken()) {
      const given = window.prompt(t('console.need_read_token'));
      if (given) { saveReadToken(given.trim()); location.reload(); }
    }
    if (view.selected != null) {
      const card = await getJson(`/api/console/calls/${encodeURIComponent(view.selected)}`);
      if (card.ok) view.card = card.data;
    }
    view.loaded = true;
    render();
  } finally {
    reading = false;
    if (again) { again = false; refresh(); }
  }
}

/** A change: read at once; changes arriving during the read make one more read after it
 *  (refresh's `again`), so a burst costs two reads, and the first call shows without a wait. */
function soon() {
  refresh();
}

function select(id) {
  view.selected = String(id);
  view.card = null;
  render();
  refresh();
}

/** The operator's id for `by`: the one typed in the header, kept in this browser. */
function operatorId() {
  const input = $('operator-id');
  const v = input.value.trim();
  if (!v) {
    input.classList.add('missing');
    input.focus();
    toast(t('console.need_operator'));
    return null;
  }
  input.classList.remove('missing');
  writeStorage(localStorage, OPERATOR, v);
  return v;
}

async function post(action, body, okText) {
  const by = operatorId();
  if (!by || view.selected == null) return;
  const url = `/api/alerts/${encodeURIComponent(view.selected)}/${action}`;
  const res = await postJson(url, { ...body, by }, { token: readToken() });
  if (res.ok) toast(okText, 'ok');
  else toast(res.detail || t('screen.action_failed'));
  refresh();
}

function onClick(e) {
  const call = e.target.closest('button.call');
  if (call) { select(call.dataset.alert); return; }
  const contact = e.target.closest('button.contact-btn');
  if (contact) {
    const { contact: id, result, label } = contact.dataset;
    post('contact', { contact: id, result },
      t('console.contact_recorded', { contact: label, result: t(`contact_result.${result}`) }));
    return;
  }
  const outcome = e.target.closest('button.outcome-btn');
  if (outcome) {
    const { code } = outcome.dataset;
    post('outcome', { code }, t('console.outcome_recorded', { outcome: t(`outcome.${code}`) }));
  }
}

function setConn(state) {
  if (state === 'lost' && view.conn !== 'lost') view.lostSince = Date.now();
  if (state === 'open') view.lostSince = null;
  if (view.conn !== state) { view.conn = state; renderConn(); }
}

/** GET /readyz: a new stream when the server is gone while the old one looks open
 *  (half-open TCP), as the district page does. */
async function pollReady() {
  const res = await getJson('/readyz');
  if (res.status !== 0) { readyFailures = 0; return; }
  readyFailures += 1;
  if (readyFailures >= 2 && view.conn === 'open' && stream) { setConn('lost'); stream.reopen(); }
}

function everySecond() {
  renderClock();
  refreshWaits();
  if (view.conn === 'lost') renderConn();
}

async function start() {
  readToken(); // a ?token= leaves the address bar at once
  await readyOrStart(CATALOG_WAIT_MS, relabel);
  document.addEventListener('carewatch:lang', relabel);
  relabel();
  $('lang-toggle').addEventListener('click', () => setLanguage(nextLanguage().code));
  $('operator-id').value = readStorage(localStorage, OPERATOR) || '';
  document.body.addEventListener('click', onClick);
  await refresh(); // first: a token asked for here is the stream's too
  stream = liveStream('/api/alerts/stream', {
    onState: setConn,
    events: { snapshot: soon, change: soon },
  });
  setInterval(everySecond, 1000);
  setInterval(pollReady, 10000);
}

window.carewatchConsole = {
  queue: () => view.queue,
  card: () => view.card,
  conn: () => view.conn,
  select,
  setLang: (code) => setLanguage(code),
};

start();
