/* A line chart on inline SVG, no library: y axis min/max (+ middle), time labels every
 * 6 h, the unit, and the latest point marked. */
import { t } from './i18n.js';
import { clockText, formatValue } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const STEP_MS = 6 * 3600 * 1000;

function s(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text != null) el.textContent = text;
  return el;
}

/** `points` ([{t: epoch ms, v}], sorted by time) between t0 and t1 as an <svg>. */
export function drawChart(points, unit, t0, t1) {
  const W = 1000, H = 380, L = 110, R = 20, T = 30, B = 50;
  let lo = Math.min(...points.map((p) => p.v));
  let hi = Math.max(...points.map((p) => p.v));
  const dataLo = lo, dataHi = hi;
  if (hi === lo) { hi += Math.abs(hi) * 0.1 || 1; lo -= Math.abs(lo) * 0.1 || 1; }
  const pad = (hi - lo) * 0.08;
  lo -= pad; hi += pad;
  const start = Math.min(t0, points[0].t);
  const end = Math.max(t1, points[points.length - 1].t);
  const x = (tm) => L + ((tm - start) / (end - start || 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': `${t('screen.history.range')} ${unit}`,
  });
  svg.append(s('rect', { x: L, y: T, width: W - L - R, height: H - T - B, class: 'chart-bg' }));
  for (const v of [dataLo, dataHi, (dataLo + dataHi) / 2]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'chart-grid' }));
    svg.append(s('text', { x: L - 10, y: y(v) + 6, 'text-anchor': 'end', class: 'chart-label' }, formatValue(v)));
  }
  svg.append(s('text', { x: 10, y: T - 8, class: 'chart-unit' }, unit || ''));
  for (let tm = Math.ceil(start / STEP_MS) * STEP_MS; tm <= end; tm += STEP_MS) {
    svg.append(s('line', { x1: x(tm), x2: x(tm), y1: T, y2: H - B, class: 'chart-grid' }));
    svg.append(s('text', { x: x(tm), y: H - B + 28, 'text-anchor': 'middle', class: 'chart-label' },
      clockText(new Date(tm).toISOString())));
  }
  svg.append(s('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'chart-axis' }));
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'chart-axis' }));
  if (points.length > 1) {
    svg.append(s('polyline', {
      points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '), class: 'chart-line',
    }));
  }
  const last = points[points.length - 1];
  svg.append(s('circle', { cx: x(last.t), cy: y(last.v), r: 6, class: 'chart-dot' }));
  return svg;
}
