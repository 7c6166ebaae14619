/* CareWatch shift handover panel (issue 9): the last shift's figures, this shift so far,
 * and what is still open, from GET /api/reports/handover; a link opens the printable
 * report of the last shift. Plain ES2020, separate from app.js; it follows the screen's
 * language (localStorage 'carewatch.lang', the 'carewatch:lang' event) and sends the
 * screen's viewer token when the home keeps reads behind one. */
'use strict';

(() => {
  const TEXT = {
    zh: {
      title: '交接班', now: '本班至今', last: '上一班', open: '待交接',
      alerts: (n) => `告警 ${n}`,
      within: (a, b, p) => `紧急呼叫 60 秒内应答 ${a}/${b}（${p}）`,
      noEmergency: '无紧急呼叫',
      median: (s) => `中位 ${s}`,
      unanswered: (n) => `未应答 ${n}`,
      openLine: (n, u) => `未关闭告警 ${n}（未确认 ${u}）`,
      offline: (n) => `离线设备 ${n}`,
      report: '上一班完整报告',
      sec: (s) => (s < 120 ? `${Math.round(s)} 秒` : `${Math.round(s / 60)} 分`),
      bed: (b) => `${b}床`, room: (r) => `${r}室`,
    },
    en: {
      title: 'Shift handover', now: 'This shift so far', last: 'Last shift', open: 'To hand over',
      alerts: (n) => `${n} alerts`,
      within: (a, b, p) => `emergency answered ≤ 60 s: ${a}/${b} (${p})`,
      noEmergency: 'no emergency calls',
      median: (s) => `median ${s}`,
      unanswered: (n) => `${n} unanswered`,
      openLine: (n, u) => `${n} open alerts (${u} unacknowledged)`,
      offline: (n) => `${n} devices offline`,
      report: 'Full report of the last shift',
      sec: (s) => (s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`),
      bed: (b) => `bed ${b}`, room: (r) => `room ${r}`,
    },
  };
  const TARGET = 0.985;
  let data = null;

  function lang() { return localStorage.getItem('carewatch.lang') === 'en' ? 'en' : 'zh'; }
  function tx() { return TEXT[lang()]; }
  function token() { return localStorage.getItem('carewatch.readToken'); }
  function headers() { const t = token(); return t ? { Authorization: `Bearer ${t}` } : {}; }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function hhmm(iso) { return iso ? iso.slice(11, 16) : ''; }
  function shiftName(s) { return (lang() === 'en' && s.name_en) || s.name; }

  function shiftLines(s) {
    const t = tx();
    const e = s.emergency;
    const counted = e.waits - e.pending;
    const lines = [];
    const first = el('div', 'ho-line', `${t.alerts(s.alerts)} · `);
    if (counted > 0) {
      const share = e.share_within_60s;
      const span = el('span', share >= TARGET ? 'ho-ok' : 'ho-bad',
        t.within(e.within_60s, counted, `${(share * 100).toFixed(0)}%`));
      first.append(span);
      if (e.median_ack_s !== null) first.append(` · ${t.median(t.sec(e.median_ack_s))}`);
    } else {
      first.append(t.noEmergency);
    }
    lines.push(first);
    if (s.unanswered.length) {
      lines.push(el('div', 'ho-line ho-bad', t.unanswered(s.unanswered.length)));
      const ul = el('ul', 'ho-list');
      for (const u of s.unanswered.slice(0, 3)) {
        const title = lang() === 'en' ? u.title_en : u.title_zh;
        const where = [u.room && t.room(u.room), u.bed && t.bed(u.bed)].filter(Boolean).join(' ');
        ul.append(el('li', '', `${hhmm(u.since)} ${title} ${where}`));
      }
      lines.push(ul);
    }
    return lines;
  }

  function block(label, shift) {
    const b = el('div', 'ho-block');
    const head = el('div', 'ho-label', label);
    if (shift) head.append(` · ${shiftName(shift)} ${hhmm(shift.start)}–${hhmm(shift.end)}`);
    b.append(head);
    if (shift) b.append(...shiftLines(shift));
    return b;
  }

  function render() {
    const box = document.getElementById('handover');
    if (!box || !data) return;
    const t = tx();
    const title = el('h2', '', t.title);
    if (data.current) {
      title.append(el('span', 'ho-shift',
        `${shiftName(data.current)} ${hhmm(data.current.start)}–${hhmm(data.current.end)}`));
    }
    const open = el('div', 'ho-block');
    open.append(el('div', 'ho-label', t.open));
    const o = data.open;
    open.append(el('div', o.unacknowledged ? 'ho-line ho-bad' : 'ho-line',
      t.openLine(o.alerts, o.unacknowledged)));
    if (o.offline_devices.length) {
      open.append(el('div', 'ho-line', `${t.offline(o.offline_devices.length)}: `
        + o.offline_devices.slice(0, 6).join(', ') + (o.offline_devices.length > 6 ? ' …' : '')));
    }
    const link = el('a', '', t.report);
    link.id = 'handover-report';
    // a plain link cannot send the viewer token as a header: it rides in the URL, as the
    // screen's own event stream does
    const t0 = token();
    link.href = `/api/reports/watch.html?shift=previous&lang=${lang()}`
      + (t0 ? `&access_token=${encodeURIComponent(t0)}` : '');
    link.target = '_blank';
    link.rel = 'noopener';
    const parts = [title];
    if (data.previous) parts.push(block(t.last, data.previous));
    if (data.current) parts.push(block(t.now, data.current));
    parts.push(open, el('div', 'ho-block'));
    parts[parts.length - 1].append(link);
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  async function refresh() {
    try {
      const resp = await fetch('/api/reports/handover', { headers: headers(), cache: 'no-store' });
      if (!resp.ok) return;
      data = await resp.json();
      render();
    } catch (_e) { /* the screen's own banner reports a lost connection */ }
  }

  function start() {
    refresh();
    setInterval(refresh, 60000);
    document.addEventListener('carewatch:lang', render);
  }
  window.carewatchHandover = { refresh, data: () => data };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
