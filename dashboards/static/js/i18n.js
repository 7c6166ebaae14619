/* The screen's texts, from the one catalog (devices/catalog/<lang>.json) served by
 * GET /api/i18n/<lang>: no text table lives in the browser code.
 *
 * Keys are the catalog's dotted paths ('screen.tab.alerts', 'priority.emergency');
 * placeholders are `{name}`, filled from an object, the same syntax as the Python side.
 * The logic that picks a text by number (ago(), duration()) lives here and picks keys.
 * Both the duty screen (main.js) and the handover panel (handover.js) import this module,
 * so they share one language and one loaded catalog. */
import { readStorage, writeStorage } from './storage.js';

const STORE_KEY = 'carewatch.lang';
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const RETRY_MS = 3000;

let languages = []; // [{code, name, lang}] from GET /api/i18n, the default first
let current = readStorage(localStorage, STORE_KEY) || ''; // '' until the catalog says
let table = {}; // the current language's nested table (the server fills gaps from zh)
let loading = null; // the promise of the first load, shared by every caller

/** The current language code ('zh', 'en', ...). */
export function lang() { return current; }

/** `{name}` placeholders replaced from `values`; an unknown name stays visible. */
export function fill(template, values) {
  const v = values || {};
  return template.replace(PLACEHOLDER,
    (m, name) => (Object.prototype.hasOwnProperty.call(v, name) ? String(v[name]) : m));
}

function lookup(key) {
  return key.split('.').reduce((o, k) => (o != null && typeof o === 'object' ? o[k] : undefined), table);
}

/** The text of `key` with its placeholders filled; the key itself when the catalog lacks
 *  it (a visible slip, never a crash in the middle of an alarm). */
export function t(key, values) {
  const v = lookup(key);
  return typeof v === 'string' ? fill(v, values) : key;
}

/** Like t(), for keys built from data (an audit action, a check name): `fallback` when the
 *  catalog has no such text. */
export function tOr(key, fallback, values) {
  const v = lookup(key);
  return typeof v === 'string' ? fill(v, values) : fallback;
}

/** "3分钟前" / "3 min ago" for `s` seconds. */
export function ago(s) {
  if (s < 10) return t('screen.ago.just_now');
  if (s < 60) return t('screen.ago.seconds', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('screen.ago.minutes', { m });
  const h = Math.floor(m / 60);
  if (h < 24) {
    return m % 60 ? t('screen.ago.hours_minutes', { h, m: m % 60 }) : t('screen.ago.hours', { h });
  }
  return t('screen.ago.days', { d: Math.floor(h / 24) });
}

/** "2分5秒" / "2 min 5 s" for `s` seconds. */
export function duration(s) {
  if (s < 60) return t('screen.duration.seconds', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('screen.duration.minutes', { m, s: s % 60 });
  return t('screen.duration.hours', { h: Math.floor(m / 60), m: m % 60 });
}

/** The locale for dates and times ('zh-CN', 'en-GB'), from the catalog. */
export function locale() { return tOr('screen.date_locale', 'zh-CN'); }

/** The language of the page (<html lang>), from the catalog's _meta. */
export function htmlLang() { return tOr('_meta.lang', current); }

/** The language the toggle switches to next, with its own name and tag. */
export function nextLanguage() {
  const i = languages.findIndex((l) => l.code === current);
  return languages.length ? languages[(i + 1) % languages.length] : { code: current, name: '', lang: '' };
}

async function getJson(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
  return resp.json();
}

async function fetchTable(code) {
  const known = languages.some((l) => l.code === code);
  const wanted = known || !languages.length ? code : languages[0].code; // the default first
  const data = await getJson(`/api/i18n/${encodeURIComponent(wanted)}`);
  current = wanted;
  table = data && typeof data === 'object' ? data : {};
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Load the language list and the current language's texts, retrying until the server
 *  answers; every caller shares one load. */
export function ready() {
  if (!loading) {
    loading = (async () => {
      for (;;) {
        try {
          const index = await getJson('/api/i18n');
          languages = Array.isArray(index.languages) ? index.languages : [];
          await fetchTable(current || index.default);
          return;
        } catch (_e) {
          await sleep(RETRY_MS); // the page came from this server: it will answer again
        }
      }
    })();
  }
  return loading;
}

/** Wait for the texts at most `waitMs`, then start anyway (a page with raw keys beats no
 *  page: an alarm must show): true when they came in time. If they come later,
 *  `relabel` runs then. */
export async function readyOrStart(waitMs, relabel) {
  const loaded = await Promise.race([ready().then(() => true), sleep(waitMs).then(() => false)]);
  if (!loaded) ready().then(relabel);
  return loaded;
}

/** Switch to `code` (unknown codes give the default), remember it in this browser, and
 *  tell the page's parts ('carewatch:lang' event) once the texts are loaded. */
export async function setLanguage(code) {
  await ready();
  try {
    await fetchTable(code);
  } catch (_e) {
    return current; // keep the texts we have; the next click tries again
  }
  writeStorage(localStorage, STORE_KEY, current);
  document.dispatchEvent(new CustomEvent('carewatch:lang', { detail: current }));
  return current;
}
