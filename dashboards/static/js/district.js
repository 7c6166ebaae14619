/* CareWatch district overview: the entry module (district.html loads it with
 * <script type="module">). Every site the caller may read, with its state at a glance,
 * most urgent first, live; for a district's civil-affairs officer on a wall display.
 * Reuses the duty screen's i18n, api, format and dom modules; its own parts are
 * district-render.js (the table, totals, banners) and district-stream.js (the data).
 *
 * The home-bed panel below the table is district-homebeds.js.
 *
 * Test hooks: window.carewatchDistrict = {summary(), conn(), setLang(l), homeBeds()}.
 * Stable DOM: tr.site-row[data-site][data-status], a.site-link, #totals, #system-banner,
 * #conn-banner, #lang-toggle; the panel's: see district-homebeds.js.
 */
import { nextLanguage, readyOrStart, setLanguage, t } from './i18n.js';
import { $, applyStaticI18n, refreshAgoSpans } from './dom.js';
import { readToken } from './api.js';
import { refreshWaits, render, renderClock, renderConn, view } from './district-render.js';
import { connect, load, pollReady } from './district-stream.js';
import { homeView, renderHomeBeds, startHomeBeds } from './district-homebeds.js';

const CATALOG_WAIT_MS = 5000; // then start anyway: a picture with raw keys beats none

/** Every text on the page again, in the language just loaded. */
function relabel() {
  applyStaticI18n();
  document.title = t('district.app_name');
  renderClock();
  render();
  renderHomeBeds();
}

function everySecond() {
  renderClock();
  refreshAgoSpans();
  refreshWaits();
  if (view.conn === 'lost') renderConn();
}

async function start() {
  readToken(); // a ?token= leaves the address bar at once, before anything waits
  await readyOrStart(CATALOG_WAIT_MS, relabel);
  document.addEventListener('carewatch:lang', relabel);
  relabel();
  $('lang-toggle').addEventListener('click', () => setLanguage(nextLanguage().code));
  await load(); // first: a token asked for here is the stream's too
  connect();
  startHomeBeds();
  pollReady();
  setInterval(everySecond, 1000);
  setInterval(pollReady, 10000);
}

window.carewatchDistrict = {
  summary: () => view.summary,
  conn: () => view.conn,
  setLang: (code) => setLanguage(code),
  homeBeds: () => homeView.data,
};

start();
