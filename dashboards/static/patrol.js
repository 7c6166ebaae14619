/* The fire patrol's phone page (patrol.html; docs/fire-duty.md, ## Rounds). ES5 and
 * XMLHttpRequest only: a cheap Android phone's browser runs it. A check-in being sent is
 * kept (localStorage) with its client_id, the staff id and when it was made until the
 * service answers, so a lost answer is sent again as the same check-in (the service
 * refuses a second one: 409 already_recorded, with what it saved). The kept one is dropped
 * after KEEP_MS, on log-out or another staff member's log-in; changed answers are a new
 * check-in (a new client_id), never taken as the one saved before. */
(function () {
  'use strict';
  var LANG_KEY = 'cw.patrol.lang', SESSION_KEY = 'cw.patrol.session', PENDING_KEY = 'cw.patrol.pending';
  var KEEP_MS = 10 * 60 * 1000; // a lost answer is retried within minutes, not next round
  var session = null, zone = null, open = null;
  var query = parseQuery();
  var P = window.cwPhone({ langKey: LANG_KEY, titleKey: 'rounds.patrol.title', session: function () { return session; } });
  var $ = P.$, store = P.store, t = P.t, el = P.el, show = P.show, api = P.api, detail = P.detail, loadTexts = P.loadTexts;

  // the QR link's query (/patrol?site=..&tag=..), its values encoded with
  // encodeURIComponent: '+' arrives as %2B, '&' %26, '#' %23, '%' %25; a value is all
  // after its first '=' (a bare '+' is a space, as in any form's query)
  function parseQuery() {
    var out = {}, parts = location.search.replace(/^\?/, '').split('&');
    for (var i = 0; i < parts.length; i++) {
      var at = parts[i].indexOf('='), k = at < 0 ? parts[i] : parts[i].slice(0, at);
      var v = at < 0 ? '' : parts[i].slice(at + 1);
      try { if (k) out[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\+/g, ' ')); }
      catch (e) { /* a broken escape: that value is left out */ }
    }
    return out;
  }
  function name(x) { return P.lang() === 'en' && x.name_en ? x.name_en : x.name; }
  function hhmm(ms) {
    var opts = { hour: '2-digit', minute: '2-digit', hour12: false };
    try { opts.timeZone = zone || undefined; return new Date(ms).toLocaleTimeString(P.lang() === 'en' ? 'en-GB' : 'zh-CN', opts); }
    catch (e) { delete opts.timeZone; return new Date(ms).toLocaleTimeString([], opts); }
  }
  function site() { return query.site || (session && session.site) || ''; }

  function loggedIn(s) {
    session = s;
    store(SESSION_KEY, JSON.stringify(s));
    $('login').hidden = true; $('work').hidden = false; $('logout').hidden = false;
    show($('login-error'), '');
    $('hello').textContent = t('rounds.patrol.hello', { name: s.name });
    if (!('NDEFReader' in window)) show($('nfc-note'), t('rounds.patrol.scan_unsupported'));
    $('nfc').hidden = !('NDEFReader' in window);
    refresh();
    var kept = pending();
    if (query.tag) { openTag(query.tag); query.tag = ''; }
    else if (kept) openCheckpoint(kept.checkpoint, kept);
  }
  function loggedOut(message) {
    session = null;
    store(SESSION_KEY, null);
    store(PENDING_KEY, null); // the next one to log in on this phone starts clean
    $('checkpoint').hidden = true; open = null;
    $('login').hidden = false; $('work').hidden = true; $('logout').hidden = true;
    show($('login-error'), message || '');
  }
  function failed(status, data) {
    if (status === 401) return loggedOut(t('rounds.patrol.expired'));
    show($('error'), status === 0 ? t('rounds.patrol.net_error') : t('rounds.patrol.error', { detail: detail(data) }));
  }

  function refresh() {
    $('loading').hidden = false;
    api('GET', '/api/rounds?site=' + encodeURIComponent(site()), null, function (status, data) {
      $('loading').hidden = true;
      if (status !== 200) return failed(status, data);
      zone = data.timezone;
      render(data.routes || []);
    });
  }
  function render(routes) {
    var box = $('routes'), shown = 0;
    box.innerHTML = '';
    for (var i = 0; i < routes.length; i++) {
      var r = routes[i], cur = r.current;
      if (!cur) continue;
      shown++;
      var card = el('div', 'route');
      card.setAttribute('data-route', r.id);
      card.setAttribute('data-status', cur.status);
      card.appendChild(el('h2', null, t('rounds.patrol.round_of', { route: name(r), time: hhmm(cur.start_ms) }) +
        ' · ' + t('rounds.status.' + cur.status)));
      var done = 0;
      // done or late; one checked in too late to count is missed, as on the duty screen
      for (var j = 0; j < cur.checkpoints.length; j++) if (cur.checkpoints[j].status === 'done' || cur.checkpoints[j].status === 'late') done++;
      card.appendChild(el('p', 'sub', t('rounds.done_count', { done: done, total: cur.checkpoints.length }) +
        ' · ' + t('rounds.due_by', { time: hhmm(cur.due_ms) })));
      var list = el('ul', 'points');
      for (var k = 0; k < cur.checkpoints.length; k++) {
        var p = cur.checkpoints[k], li = el('li');
        li.setAttribute('data-checkpoint', p.id);
        li.setAttribute('data-status', p.status);
        li.appendChild(el('span', null, name(p) + (p.at_ms ? ' · ' + hhmm(p.at_ms) : '')));
        li.appendChild(el('span', 'badge', t('rounds.point.' + p.status)));
        list.appendChild(li);
      }
      card.appendChild(list);
      box.appendChild(card);
    }
    $('empty').hidden = shown > 0;
  }

  // the check-in kept for a retry: only this staff member's, only for KEEP_MS
  function pending() {
    var kept = null;
    try { kept = JSON.parse(store(PENDING_KEY) || 'null'); } catch (e) { kept = null; }
    if (!kept) return null;
    var age = Date.now() - (kept.created_ms || 0);
    if (!session || kept.staff !== session.name || !(age >= 0 && age < KEEP_MS) || !kept.checkpoint) {
      store(PENDING_KEY, null);
      return null;
    }
    return kept;
  }
  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
  function sorted(obj) {
    var keys = [], out = {};
    for (var k in obj) if (Object.prototype.hasOwnProperty.call(obj, k)) keys.push(k);
    keys.sort();
    for (var i = 0; i < keys.length; i++) out[keys[i]] = obj[keys[i]];
    return out;
  }
  function openTag(tag) {
    show($('error'), '');
    api('GET', '/api/rounds/tag?site=' + encodeURIComponent(site()) + '&tag=' + encodeURIComponent(tag), null,
      function (status, data) {
        if (status === 404) return show($('error'), t('rounds.patrol.unknown_tag', { tag: tag }));
        if (status !== 200) return failed(status, data);
        openCheckpoint(data, null);
      });
  }
  function openCheckpoint(cp, kept) {
    open = cp;
    $('cp-name').textContent = name(cp);
    var items = $('items');
    items.innerHTML = '';
    for (var i = 0; i < cp.checklist.length; i++) {
      var id = cp.checklist[i], row = el('div', 'item');
      row.setAttribute('data-item', id);
      row.appendChild(el('p', null, t('rounds.item.' + id)));
      var answers = ['ok', 'problem'];
      for (var j = 0; j < answers.length; j++) {
        var lab = el('label', 'choice'), radio = el('input');
        radio.type = 'radio'; radio.name = 'a-' + id; radio.value = answers[j];
        radio.checked = kept ? kept.answers[id] === answers[j] : j === 0;
        lab.appendChild(radio);
        lab.appendChild(document.createTextNode(t('rounds.patrol.' + answers[j])));
        row.appendChild(lab);
      }
      items.appendChild(row);
    }
    $('note').value = kept ? kept.note || '' : '';
    $('checkpoint').hidden = false;
    $('checkpoint').scrollIntoView();
  }
  function answersOf() {
    var out = {};
    for (var i = 0; i < open.checklist.length; i++) {
      var id = open.checklist[i], radios = document.getElementsByName('a-' + id);
      for (var j = 0; j < radios.length; j++) if (radios[j].checked) out[id] = radios[j].value;
    }
    return sorted(out);
  }
  function savedText(data, fallback) {
    var text = t(data.late ? 'rounds.patrol.saved_late' : 'rounds.patrol.saved', { name: name(fallback) });
    if (data.at_ms) text += ' · ' + hhmm(data.at_ms);
    if (data.missed) text += ' · ' + t('rounds.point.missed'); // too late to count
    if (data.hazards && data.hazards.length) text += ' · ' + t('rounds.patrol.hazard_opened', { n: data.hazards.length });
    return text;
  }
  function send() {
    var kept = pending(), answers = answersOf(), note = $('note').value || null;
    // the same check-in sent again keeps its id; changed answers are a new check-in
    var entry = kept && kept.checkpoint.id === open.id && same(kept.answers, answers) && kept.note === note ? kept : {
      checkpoint: open, answers: answers, note: note, staff: session.name, created_ms: Date.now(),
      client_id: 'p-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10)
    };
    store(PENDING_KEY, JSON.stringify(entry));
    $('submit').disabled = true;
    var body = { site: site(), tag: open.tag, answers: entry.answers, note: entry.note, client_id: entry.client_id };
    api('POST', '/api/rounds/checkins', body, function (status, data) {
      $('submit').disabled = false;
      if (status === 201 || status === 409 || status === 404) store(PENDING_KEY, null);
      if (status === 409 && data && data.code === 'already_recorded') { // saved before: the answer was lost
        status = 201;
        data = data.saved || { hazards: [] }; // say what the service kept, and when
      }
      if (status === 201) {
        var text = data.repeat ? t('rounds.patrol.replayed') + ' · ' + t('rounds.patrol.hazard_opened', { n: data.hazards.length })
          : savedText(data, open);
        show($('toast'), text);
        $('checkpoint').hidden = true; open = null;
        return refresh();
      }
      if (status === 409) { $('checkpoint').hidden = true; return show($('error'), t('rounds.patrol.replayed')); }
      failed(status, data); // the answers stay in the form, to send again
    });
  }

  $('login').onsubmit = function (ev) {
    ev.preventDefault();
    var body = { staff_id: $('staff').value.trim(), pin: $('pin').value.trim() };
    $('login-btn').disabled = true;
    session = null;
    api('POST', '/api/session', body, function (status, data) {
      $('login-btn').disabled = false;
      $('pin').value = '';
      if (status === 200) return loggedIn(data);
      show($('login-error'), status === 0 ? t('rounds.patrol.net_error') : status === 429 ? t('rounds.patrol.too_many')
        : status === 401 ? t('rounds.patrol.login_failed') : detail(data));
    });
  };
  $('checkpoint').onsubmit = function (ev) { ev.preventDefault(); send(); };
  $('cancel').onclick = function () { store(PENDING_KEY, null); $('checkpoint').hidden = true; open = null; };
  $('open').onclick = function () { var v = $('tag').value.trim(); if (v) openTag(v); };
  $('nfc').onclick = function () {
    var reader = new window.NDEFReader();
    show($('nfc-note'), t('rounds.patrol.scan_wait'));
    reader.scan().then(function () {
      reader.onreading = function (ev) {
        show($('nfc-note'), '');
        openTag('nfc:' + String(ev.serialNumber || '').replace(/:/g, '').toLowerCase());
      };
    }, function (e) { show($('nfc-note'), t('rounds.patrol.error', { detail: e && e.message })); });
  };
  $('logout').onclick = function () { loggedOut(''); };
  $('lang').onclick = function () {
    show($('toast'), '');
    loadTexts(P.lang() === 'zh' ? 'en' : 'zh', function () { if (session) { loggedIn(session); if (open) openCheckpoint(open, null); } });
  };

  loadTexts(P.lang(), function () {
    var saved = null;
    try { saved = JSON.parse(store(SESSION_KEY) || 'null'); } catch (e) { saved = null; }
    if (saved && saved.token && Date.parse(saved.expires_at) > Date.now()) loggedIn(saved);
    else loggedOut('');
  });
  window.carewatchPatrol = { ready: P.ready };
})();
