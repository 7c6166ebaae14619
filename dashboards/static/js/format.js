/* Times and numbers for people: "3分钟前", "14:05", "0.32 MPa". Pure helpers over the
 * current language and the site's time zone (every time on the screen is the site's, as
 * in its reports and on its wall clocks, whatever zone the browser's machine is set to). */
import { ago, locale } from './i18n.js';

let zone; // IANA name from /api/meta (site.timezone); undefined: the browser's own

/** The site's time zone for every time shown (called once /api/meta is known). */
export function setZone(tz) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz }); // an unknown zone throws: keep the old
    zone = tz;
  } catch (_e) { /* keep the browser's zone rather than show nothing */ }
}

/** The zone times are shown in (undefined: the browser's). */
export function siteZone() { return zone; }

/** YYYY-MM-DD of `d` in the site's zone: "today" is the site's today. */
function dayOf(d) { return d.toLocaleDateString('en-CA', { timeZone: zone }); }

/** Epoch milliseconds of an RFC 3339 text; NaN when absent or unreadable. */
export function ms(iso) {
  if (!iso) return NaN;
  const v = Date.parse(iso);
  return Number.isFinite(v) ? v : NaN;
}

/** Whole seconds since `iso` (never negative), or null without a time. */
export function secondsSince(iso) {
  const v = ms(iso);
  if (!Number.isFinite(v)) return null;
  return Math.max(0, Math.floor((Date.now() - v) / 1000));
}

/** "3分钟前" for `iso`; empty without a time. */
export function agoText(iso) {
  const s = secondsSince(iso);
  return s == null ? '' : ago(s);
}

/** The clock time of `iso`, with the date when it is not today. */
export function clockText(iso, withSeconds = false) {
  const v = ms(iso);
  if (!Number.isFinite(v)) return '';
  const opts = { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: zone };
  if (withSeconds) opts.second = '2-digit';
  const d = new Date(v);
  const sameDay = dayOf(new Date()) === dayOf(d);
  if (!sameDay) { opts.month = 'numeric'; opts.day = 'numeric'; }
  return d.toLocaleString(locale(), opts);
}

/** A reading as text: at most two decimals, whole numbers from 100 up, with its unit. */
export function formatValue(v, unit) {
  if (v == null || typeof v === 'object') return '';
  if (typeof v === 'number') {
    const s = Math.abs(v) >= 100 ? v.toFixed(0) : String(Math.round(v * 100) / 100);
    return unit ? `${s} ${unit}` : s;
  }
  return String(v);
}
