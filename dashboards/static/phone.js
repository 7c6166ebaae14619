/* What the two phone pages share (visit.html for community workers, patrol.html/patrol.js
 * for the fire patrol): local storage that survives a private mode, the catalog's texts
 * and the language switch, small DOM helpers and one JSON request with the page's
 * session token. ES5 and XMLHttpRequest only: a cheap Android phone's browser runs it.
 * cwPhone({langKey, titleKey, session}) -> the helpers; `session()` gives the page's
 * current session ({token}) or null. */
(function () {
  'use strict';
  function store(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
    } catch (e) { /* private mode: in memory only */ }
    return null;
  }

  window.cwPhone = function (opts) {
    var texts = null, lang = store(opts.langKey) || 'zh';
    var $ = function (id) { return document.getElementById(id); };

    function t(key, params) {
      var v = texts, parts = key.split('.');
      for (var i = 0; v && i < parts.length; i++) v = v[parts[i]];
      if (typeof v !== 'string') return key;
      return v.replace(/\{(\w+)\}/g, function (m, k) { return params && params[k] !== undefined ? params[k] : m; });
    }
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function show(node, text) { node.textContent = text; node.hidden = !text; }

    // one request; done(status, body) with status 0 when the network failed
    function api(method, path, body, done) {
      var x = new XMLHttpRequest(), session = opts.session();
      x.open(method, path, true);
      x.timeout = 15000;
      x.setRequestHeader('Content-Type', 'application/json');
      if (session) x.setRequestHeader('Authorization', 'Bearer ' + session.token);
      x.onreadystatechange = function () {
        if (x.readyState !== 4) return;
        var data = null;
        try { data = JSON.parse(x.responseText); } catch (e) { data = null; }
        done(x.status, data);
      };
      x.send(body ? JSON.stringify(body) : null);
    }
    function detail(data) {
      var d = data && data.detail;
      if (d && typeof d !== 'string') d = d.map ? d.map(function (p) { return p.msg; }).join('; ') : '';
      return d || '';
    }

    // the catalog in `code`, applied to every [data-i18n] node and the language button
    function loadTexts(code, then) {
      api('GET', '/api/i18n/' + code, null, function (status, data) {
        if (status === 200 && data) { texts = data; lang = code; store(opts.langKey, code); }
        document.documentElement.lang = lang === 'zh' ? 'zh-CN' : lang;
        $('lang').textContent = lang === 'zh' ? 'English' : '\u4e2d\u6587'; // each language's own name
        $('lang').lang = lang === 'zh' ? 'en' : 'zh-CN';
        var nodes = document.querySelectorAll('[data-i18n]');
        for (var i = 0; texts && i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
        document.title = t(opts.titleKey) + ' CareWatch';
        if (then) then();
      });
    }

    return {
      $: $, store: store, t: t, el: el, show: show, api: api, detail: detail,
      loadTexts: loadTexts,
      lang: function () { return lang; },
      ready: function () { return texts !== null; }
    };
  };
}());
