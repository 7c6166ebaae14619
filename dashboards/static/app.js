/* CareWatch duty-room screen. Plain ES2020, no framework, no build step.
 *
 * Sections: i18n table · state · formatting · alert ordering · DOM helpers · alert cards ·
 * floors · devices · device history · login/actions · sound · live stream · banners · start.
 *
 * Test hooks: window.carewatch = {state, alerts(), soundPattern(), muted(), audioRunning(),
 * showView(v), setLang(l)}. soundPattern() is what the alarm wants to play from the open
 * alerts ('emergency'|'routine'|'trouble'|null), whether or not audio is enabled or muted.
 * Stable DOM: .alert-card[data-alert-id][data-state], button[data-action], #conn-banner,
 * #system-banner, .tab[data-view], #lang-toggle, #login-dialog, #confirm-submit,
 * #sound-enable, #mute, .room-tile[data-room], #alerts-view, #floors-view, #devices-view,
 * #history-view, #replay-notice.
 */
'use strict';

(() => {
  // ===================================================================== i18n (one table)
  const I18N = {
    zh: {
      appName: 'CareWatch 值班屏',
      langToggle: 'English',
      tabAlerts: '告警', tabFloors: '楼层', tabDevices: '设备', tabNotifications: '通知',
      needReadToken: '本院要求值班屏使用查看令牌（由信息科提供），请输入：',
      notif: {
        title: '对外通知记录（消防、主管、消息主题）',
        empty: '暂无对外通知',
        when: '时间', target: '发往', what: '内容', status: '状态',
        delivered: '已送达', pending: (n) => (n ? `等待重试（已试${n}次）` : '发送中'), failed: '已放弃',
        targets: { fire_brigade: '消防（119）', supervisor: '主管', director: '院长', mqtt: '消息主题', maintenance: '维修' },
      },
      priority: { emergency: '紧急', routine: '一般', trouble: '故障' },
      severity: { critical: '危急', high: '高', medium: '中', low: '低' },
      severityLabel: (s) => `级别：${s}`,
      state: {
        active_unack: '未确认', active_ack: '已确认', cleared_unack: '已恢复·待确认',
        shelved: '已搁置', closed: '已关闭',
      },
      action: {
        raise: '新告警', repeat: '再次触发', ack: '已确认', clear: '已恢复',
        condition_cleared: '情况已恢复', resolve: '已解除', reset: '已复位', escalate: '已升级通知',
        renotify: '再次通知', shelve: '已搁置', unshelve: '取消搁置', chattering: '频繁触发',
        forward: '已通知消防', dismiss: '误报已排除',
      },
      btnAck: '确认', btnResolve: '解除', btnReset: '复位', btnShelve: '搁置', btnUnshelve: '取消搁置',
      chattering: '频繁触发', latched: '需人工复位',
      floor: (f) => `${f}楼`, room: (r) => `${r}房`, bed: (b) => `${b}床`,
      system: '值班系统',
      floorWide: '整层',
      correlated: '多个设备联动判断',
      ago: (s) => {
        if (s < 10) return '刚刚';
        if (s < 60) return `${s}秒前`;
        const m = Math.floor(s / 60);
        if (m < 60) return `${m}分钟前`;
        const h = Math.floor(m / 60);
        if (h < 24) return `${h}小时${m % 60 ? `${m % 60}分钟` : ''}前`;
        return `${Math.floor(h / 24)}天前`;
      },
      duration: (s) => {
        if (s < 60) return `${s}秒`;
        const m = Math.floor(s / 60);
        if (m < 60) return `${m}分${s % 60}秒`;
        return `${Math.floor(m / 60)}小时${m % 60}分`;
      },
      raisedAt: (t) => `发生于 ${t}`,
      ackedBy: (who) => `${who} 已确认`,
      acked: '已确认',
      clearedLabel: '情况已恢复',
      shelvedUntil: (t) => `搁置至 ${t}`,
      escalated: (n) => `已升级通知 ${n} 级`,
      occurrences: (n) => `×${n}`,
      occurrencesTitle: (n) => `共发生 ${n} 次`,
      value: (v) => `读数 ${v}`,
      note: (n) => `备注：${n}`,
      allClear: '目前没有未处理的告警',
      loadingAlerts: '正在获取告警…',
      recent: '最近动态', recentEmpty: '暂无',
      whileAway: '断线期间',
      connOk: '● 已连接', connConnecting: '○ 连接中…', connLost: '✕ 已断开',
      connBanner: (d) => `与值班服务器的连接已断开，正在重连…（已断开 ${d}）画面上的告警可能不是最新的！`,
      systemFault: (title) => `值班系统自身故障：${title}`,
      readyFail: (names) => `值班系统自检失败：${names}`,
      checks: { broker: '消息服务器', store: '数据库', engine: '告警引擎' },
      replayNotice: (n) => `重新连接：断线期间有 ${n} 条变化（见右侧“最近动态”）`,
      soundEnable: '点击此处启用报警声音',
      mute: '静音60秒', muted: (s) => `静音 ${s}秒`, mutedHint: '点击恢复声音',
      login: '登录', logout: '退出登录', loginTitle: '工作人员登录', loginSubmit: '登录',
      staff: '工作人员', pin: '密码（PIN）', cancel: '取消', close: '关闭',
      onDuty: (n) => `值班：${n}`,
      chooseStaff: '— 请选择 —', noStaff: '（未能获取人员名单）',
      loginReason: '请先登录，登录后会自动完成刚才的操作。',
      loginExpired: '登录已失效，请重新登录。',
      wrongPin: '密码错误', tooMany: '尝试次数过多，请稍后再试', loginFailed: '登录失败',
      pinRequired: '请选择工作人员并输入密码',
      netError: '无法连接服务器，请稍后再试',
      confirmResolve: '解除告警', confirmReset: '复位告警', confirmShelve: '搁置告警',
      confirmFire: '确认是火警：立即通知消防', confirmDismiss: '排除误报（请写明原因）',
      btnFire: '确认火警·通知消防', btnDismiss: '误报', reasonNeeded: '请写明误报原因',
      forwarded: (tm) => `已通知消防 ${tm}`,
      shelveFor: '搁置多久', minutes: (m) => `${m} 分钟`,
      noteOptional: '备注（可不填）',
      done: {
        ack: '已确认', resolve: '已解除', shelve: '已搁置', unshelve: '已取消搁置',
        confirm: '已通知消防', dismiss: '已按误报关闭',
      },
      fields: {
        battery_pct: '电量', rssi_dbm: '信号强度', heart_rate_bpm: '心率', spo2_pct: '血氧',
        steps: '步数', temperature_c: '温度', pressure_mpa: '消防水压',
        residual_current_ma: '剩余电流', cable_temp_c: '线缆温度', current_a: '电流',
        voltage_v: '电压',
      },
      roomAlerts: '当前告警', roomNoAlerts: '没有未处理的告警', roomDevices: '设备',
      floorAlerts: '整层告警',
      normal: '正常',
      ackAllRecovered: (n) => `一次确认全部已恢复的故障告警（${n}条）`,
      bulkDone: (n) => `已确认 ${n} 条`,
      roomCount: (n) => `${n}条`,
      metaLoading: '正在获取楼层信息…',
      online: { true: '在线', false: '离线', null: '从未上报' },
      lastSeen: (ago) => `最后上报 ${ago}`,
      neverSeen: '从未收到消息',
      maintenanceUntil: (t) => `维护中，至 ${t}`,
      history: '历史曲线',
      groups: {
        offline: '离线', never: '从未上报', battery: '电量低', tamper: '被拆动',
        fault: '设备故障', maintenance: '维护中（停用）', unregistered: '未登记但在发送消息的设备',
      },
      groupEmpty: '无',
      devicesLoading: '正在获取设备…',
      devicesSummary: (total, problems) => `共 ${total} 台设备，${problems} 台需要关注`,
      unregKeys: {
        site: '院区', device_id: '设备编号', first_seen: '首次出现', last_seen: '最近出现',
        count: '消息数', messages: '消息数', last_topic: '最近主题', topic: '主题', reason: '原因',
      },
      historyRange: '过去24小时',
      noData: '暂无数据',
      noNumericFields: '该设备没有可绘制的数值数据',
      latest: (v, ago) => `最新：${v}（${ago}）`,
      loading: '加载中…',
      loadFailed: '加载失败',
      deviceType: (t) => t,
      actionFailed: '操作失败',
      devices: '台',
    },
    en: {
      appName: 'CareWatch duty screen',
      langToggle: '中文',
      tabAlerts: 'Alerts', tabFloors: 'Floors', tabDevices: 'Devices', tabNotifications: 'Notifications',
      needReadToken: 'This home keeps the screen behind a viewer token (from IT). Enter it:',
      notif: {
        title: 'Outgoing notifications (fire brigade, supervisors, MQTT topic)',
        empty: 'No notifications yet',
        when: 'Time', target: 'To', what: 'What', status: 'Status',
        delivered: 'Delivered', pending: (n) => (n ? `Retrying (${n} tries so far)` : 'Sending'), failed: 'Gave up',
        targets: { fire_brigade: 'Fire brigade (119)', supervisor: 'Supervisor', director: 'Director', mqtt: 'MQTT topic', maintenance: 'Maintenance' },
      },
      priority: { emergency: 'Emergency', routine: 'Routine', trouble: 'Trouble' },
      severity: { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low' },
      severityLabel: (s) => `Severity: ${s}`,
      state: {
        active_unack: 'Not acknowledged', active_ack: 'Acknowledged',
        cleared_unack: 'Recovered · needs ack', shelved: 'Shelved', closed: 'Closed',
      },
      action: {
        raise: 'New alert', repeat: 'Repeated', ack: 'Acknowledged', clear: 'Recovered',
        condition_cleared: 'Condition cleared', resolve: 'Resolved', reset: 'Reset',
        escalate: 'Escalated', renotify: 'Re-notified', shelve: 'Shelved', unshelve: 'Unshelved',
        chattering: 'Chattering', forward: 'Sent to fire brigade', dismiss: 'False alarm',
      },
      btnAck: 'Acknowledge', btnResolve: 'Resolve', btnReset: 'Reset', btnShelve: 'Shelve',
      btnUnshelve: 'Unshelve',
      chattering: 'Chattering (frequent)', latched: 'Needs manual reset',
      floor: (f) => `Floor ${f}`, room: (r) => `Room ${r}`, bed: (b) => `Bed ${b}`,
      system: 'Watch system',
      floorWide: 'Whole floor',
      correlated: 'Correlated from several devices',
      ago: (s) => {
        if (s < 10) return 'just now';
        if (s < 60) return `${s} s ago`;
        const m = Math.floor(s / 60);
        if (m < 60) return `${m} min ago`;
        const h = Math.floor(m / 60);
        if (h < 24) return `${h} h ${m % 60 ? `${m % 60} min ` : ''}ago`;
        return `${Math.floor(h / 24)} d ago`;
      },
      duration: (s) => {
        if (s < 60) return `${s} s`;
        const m = Math.floor(s / 60);
        if (m < 60) return `${m} min ${s % 60} s`;
        return `${Math.floor(m / 60)} h ${m % 60} min`;
      },
      raisedAt: (t) => `at ${t}`,
      ackedBy: (who) => `Acknowledged by ${who}`,
      acked: 'Acknowledged',
      clearedLabel: 'Condition cleared',
      shelvedUntil: (t) => `Shelved until ${t}`,
      escalated: (n) => `Escalated, level ${n}`,
      occurrences: (n) => `×${n}`,
      occurrencesTitle: (n) => `${n} occurrences`,
      value: (v) => `Reading ${v}`,
      note: (n) => `Note: ${n}`,
      allClear: 'All clear: no open alerts',
      loadingAlerts: 'Loading alerts…',
      recent: 'Recent activity', recentEmpty: 'Nothing yet',
      whileAway: 'while disconnected',
      connOk: '● Connected', connConnecting: '○ Connecting…', connLost: '✕ Disconnected',
      connBanner: (d) => `Connection to the watch lost, reconnecting… (lost for ${d}). Alerts on screen may be out of date!`,
      systemFault: (title) => `The watch system itself is degraded: ${title}`,
      readyFail: (names) => `Watch self-check failing: ${names}`,
      checks: { broker: 'message broker', store: 'database', engine: 'alert engine' },
      replayNotice: (n) => `Reconnected: ${n} changes while disconnected (see Recent activity)`,
      soundEnable: 'Click to enable alarm sound',
      mute: 'Mute 60 s', muted: (s) => `Muted ${s} s`, mutedHint: 'click to unmute',
      login: 'Log in', logout: 'Log out', loginTitle: 'Staff log-in', loginSubmit: 'Log in',
      staff: 'Staff member', pin: 'PIN', cancel: 'Cancel', close: 'Close',
      onDuty: (n) => `On duty: ${n}`,
      chooseStaff: '— choose —', noStaff: '(staff list unavailable)',
      loginReason: 'Please log in; the action will be carried out after you log in.',
      loginExpired: 'Your log-in has expired, please log in again.',
      wrongPin: 'Wrong PIN', tooMany: 'Too many attempts, try again later', loginFailed: 'Log-in failed',
      pinRequired: 'Choose a staff member and enter the PIN',
      netError: 'Cannot reach the server, try again',
      confirmResolve: 'Resolve alert', confirmReset: 'Reset alert', confirmShelve: 'Shelve alert',
      confirmFire: 'It is a fire: notify the fire brigade now',
      confirmDismiss: 'False alarm (write the reason)',
      btnFire: 'Fire: call brigade', btnDismiss: 'False alarm', reasonNeeded: 'Write the reason for the false alarm',
      forwarded: (tm) => `Sent to fire brigade ${tm}`,
      shelveFor: 'Shelve for', minutes: (m) => `${m} min`,
      noteOptional: 'Note (optional)',
      done: {
        ack: 'Acknowledged', resolve: 'Resolved', shelve: 'Shelved', unshelve: 'Unshelved',
        confirm: 'Fire brigade notified', dismiss: 'Closed as false alarm',
      },

      roomAlerts: 'Open alerts', roomNoAlerts: 'No open alerts', roomDevices: 'Devices',
      floorAlerts: 'Floor alerts',
      normal: 'OK',
      ackAllRecovered: (n) => `Acknowledge all recovered trouble alerts (${n})`,
      bulkDone: (n) => `${n} acknowledged`,
      roomCount: (n) => `${n}`,
      metaLoading: 'Loading floor plan…',
      online: { true: 'Online', false: 'Offline', null: 'Never heard' },
      lastSeen: (ago) => `last seen ${ago}`,
      neverSeen: 'never heard from',
      maintenanceUntil: (t) => `Out of service until ${t}`,
      history: 'History',
      groups: {
        offline: 'Offline', never: 'Never heard', battery: 'Low battery', tamper: 'Tampered',
        fault: 'Faults', maintenance: 'Out of service', unregistered: 'Unregistered devices publishing',
      },
      groupEmpty: 'None',
      devicesLoading: 'Loading devices…',
      devicesSummary: (total, problems) => `${total} devices, ${problems} need attention`,
      unregKeys: {
        site: 'Site', device_id: 'Device id', first_seen: 'First seen', last_seen: 'Last seen',
        count: 'Messages', messages: 'Messages', last_topic: 'Last topic', topic: 'Topic', reason: 'Reason',
      },
      historyRange: 'Last 24 hours',
      noData: 'No data',
      noNumericFields: 'This device has no numeric data to chart',
      latest: (v, ago) => `Latest: ${v} (${ago})`,
      loading: 'Loading…',
      loadFailed: 'Could not load',
      deviceType: (t) => t,
      actionFailed: 'Action failed',
      devices: '',
    },
  };

  let lang = readStorage(localStorage, 'carewatch.lang') === 'en' ? 'en' : 'zh';

  /** Look up `key` (dotted for nested tables) in the current language; functions get args. */
  /** A telemetry field's name for people: Chinese from the table, else the description. */
  function fieldLabel(f) {
    return (lang === 'zh' && I18N.zh.fields[f.name]) || f.description || f.name;
  }

  function t(key, ...args) {
    const pick = (table) => key.split('.').reduce((o, k) => (o == null ? undefined : o[k]), table);
    let v = pick(I18N[lang]);
    if (v === undefined) v = pick(I18N.zh);
    if (v === undefined) return args.length ? String(args[0]) : key.split('.').pop();
    return typeof v === 'function' ? v(...args) : v;
  }

  function readStorage(store, key) {
    try { return store.getItem(key); } catch (_e) { return null; }
  }
  function writeStorage(store, key, value) {
    try {
      if (value == null) store.removeItem(key); else store.setItem(key, value);
    } catch (_e) { /* storage may be disabled; not fatal */ }
  }

  // ================================================================================ state
  const SYSTEM_RULES = new Set([
    'broker_disconnected', 'store_unreachable', 'ingest_silent', 'spool_backlog', 'engine_lag',
  ]);
  const DEVICE_RULES = new Set([
    'device_offline', 'battery_low', 'battery_low_reported', 'tamper', 'device_fault',
  ]);
  const PRIORITY_RANK = { emergency: 0, routine: 1, trouble: 2 };
  const STATE_RANK = { active_unack: 0, cleared_unack: 1, active_ack: 2, shelved: 3 };
  const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
  const SHAPE = { emergency: '▲', routine: '●', trouble: '■' };
  const RECENT_MAX = 40;
  const LOST_SOUND_AFTER_MS = 30000;
  const IDLE_RESET_MS = 3 * 60 * 1000; // unattended screen goes back to the alert list

  const state = {
    alerts: new Map(), // id -> alert (open alerts only)
    lastId: 0, // audit id the current view is up to date with
    snapshotReceived: false,
    snapshotSeenBefore: false,
    meta: null,
    devices: null, // array once loaded
    devicesById: new Map(),
    unregistered: [],
    conn: 'connecting', // connecting | open | lost
    lostSince: null,
    readyz: null, // {ok, checks}
    session: null,
    recent: [], // [{change, replay}]
    replayCount: 0,
    view: 'alerts',
    openRoom: null, // {floor, room} of the room dialog
    historyDevice: null,
  };

  // =========================================================================== formatting
  function ms(iso) {
    if (!iso) return NaN;
    const v = Date.parse(iso);
    return Number.isFinite(v) ? v : NaN;
  }
  function secondsSince(iso) {
    const v = ms(iso);
    if (!Number.isFinite(v)) return null;
    return Math.max(0, Math.floor((Date.now() - v) / 1000));
  }
  function agoText(iso) {
    const s = secondsSince(iso);
    return s == null ? '' : t('ago', s);
  }
  function locale() { return lang === 'zh' ? 'zh-CN' : 'en-GB'; }
  function clockText(iso, withSeconds = false) {
    const v = ms(iso);
    if (!Number.isFinite(v)) return '';
    const opts = { hour: '2-digit', minute: '2-digit', hour12: false };
    if (withSeconds) opts.second = '2-digit';
    const d = new Date(v);
    const sameDay = new Date().toDateString() === d.toDateString();
    if (!sameDay) { opts.month = 'numeric'; opts.day = 'numeric'; }
    return d.toLocaleString(locale(), opts);
  }
  function staffName(id) {
    if (!id) return '';
    const staff = (state.meta && Array.isArray(state.meta.staff)) ? state.meta.staff : [];
    const s = staff.find((x) => x && x.id === id);
    return (s && s.name) || String(id);
  }
  function isSystem(a) {
    return !!a && ((typeof a.device_id === 'string' && a.device_id.startsWith('system:'))
      || SYSTEM_RULES.has(a.rule));
  }
  function alertTitle(a) {
    const rule = state.meta && state.meta.rules && state.meta.rules[a.rule];
    if (lang === 'en') return a.title_en || (rule && rule.title_en) || a.title || a.rule || '?';
    return a.title || (rule && rule.title_zh) || a.title_en || a.rule || '?';
  }
  function roomLabel(roomId, floorId) {
    if (roomId == null || roomId === '') return '';
    const r = findRoom(roomId, floorId);
    if (r && r.name && !/^\d+$/.test(String(roomId))) return r.name;
    return t('room', roomId);
  }
  function floorLabel(floorId) {
    if (floorId == null || floorId === '') return '';
    return t('floor', floorId);
  }
  function findRoom(roomId, floorId) {
    const floors = metaFloors();
    for (const f of floors) {
      if (floorId != null && String(f.id) !== String(floorId)) continue;
      const r = (f.rooms || []).find((x) => x && String(x.id) === String(roomId));
      if (r) return r;
    }
    return null;
  }
  function metaFloors() {
    return (state.meta && Array.isArray(state.meta.floors)) ? state.meta.floors : [];
  }
  function deviceTypeLabel(type) {
    if (!type) return '';
    const dt = state.meta && state.meta.device_types && state.meta.device_types[type];
    if (!dt) return String(type).replace(/_/g, ' ');
    return (lang === 'en' ? dt.label_en : dt.label_zh) || dt.label_zh || dt.label_en || type;
  }
  function deviceName(deviceId, type) {
    const d = state.devicesById.get(deviceId);
    const typeLabel = deviceTypeLabel(type || (d && d.type));
    const label = d && d.label ? d.label : deviceId;
    return [typeLabel, label].filter(Boolean).join(' · ');
  }
  const blank = (v) => v == null || v === '';
  /** An alert's room, or its device's room when the alert does not say. */
  function alertRoom(a) {
    if (!blank(a.room)) return String(a.room);
    const d = state.devicesById.get(a.device_id);
    return d && !blank(d.room) ? String(d.room) : null;
  }
  function alertFloor(a) {
    if (!blank(a.floor)) return String(a.floor);
    const d = state.devicesById.get(a.device_id);
    return d && !blank(d.floor) ? String(d.floor) : null;
  }
  function whereParts(a) {
    if (isSystem(a)) return [t('system')];
    const parts = [];
    const floor = alertFloor(a);
    const room = alertRoom(a);
    if (floor) parts.push(floorLabel(floor));
    if (room) parts.push(roomLabel(room, floor));
    else if (floor) parts.push(t('floorWide'));
    if (a.bed) parts.push(t('bed', a.bed));
    return parts;
  }
  /** The condition behind the alert is still there (not recovered). */
  function conditionActive(a) {
    return a.state !== 'cleared_unack' && !a.condition_cleared_at;
  }
  function formatValue(v, unit) {
    if (v == null || typeof v === 'object') return '';
    if (typeof v === 'number') {
      const s = Math.abs(v) >= 100 ? v.toFixed(0) : String(Math.round(v * 100) / 100);
      return unit ? `${s} ${unit}` : s;
    }
    return String(v);
  }

  // ====================================================================== alert ordering
  function rank(table, key, dflt = 9) {
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : dflt;
  }
  /** Emergency first, then unacknowledged, then severity, then oldest first (id breaks ties). */
  function compareAlerts(a, b) {
    return rank(PRIORITY_RANK, a.priority) - rank(PRIORITY_RANK, b.priority)
      || rank(STATE_RANK, a.state) - rank(STATE_RANK, b.state)
      || rank(SEVERITY_RANK, a.severity) - rank(SEVERITY_RANK, b.severity)
      || (ms(a.raised_at) || 0) - (ms(b.raised_at) || 0)
      || String(a.id).localeCompare(String(b.id), 'en', { numeric: true });
  }
  function sortedAlerts(filter) {
    const list = [];
    for (const a of state.alerts.values()) if (!filter || filter(a)) list.push(a);
    return list.sort(compareAlerts);
  }
  /** The most urgent of `alerts` (priority, then unacknowledged, then severity). */
  function worstAlert(alerts) {
    let worst = null;
    for (const a of alerts) if (!worst || compareAlerts(a, worst) < 0) worst = a;
    return worst;
  }

  // ========================================================================= DOM helpers
  const $ = (id) => document.getElementById(id);

  /** h('div', {class: 'x', data: {a: 1}, text: '...'}, child, ...) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'data') for (const [dk, dv] of Object.entries(v)) { if (dv != null) el.dataset[dk] = dv; }
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    appendAll(el, children);
    return el;
  }
  function appendAll(el, children) {
    for (const c of children) {
      if (c == null || c === false) continue;
      if (Array.isArray(c)) appendAll(el, c);
      else el.append(c instanceof Node ? c : String(c));
    }
  }
  /** A "time ago" span that the 1-second ticker keeps current. */
  function agoSpan(iso, cls = 'ago') {
    return h('span', { class: cls, data: { ts: iso || '' }, text: agoText(iso) });
  }
  function refreshAgoSpans() {
    for (const el of document.querySelectorAll('[data-ts]')) {
      const txt = agoText(el.dataset.ts);
      if (el.textContent !== txt) el.textContent = txt;
    }
  }
  function applyStaticI18n() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('appName');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('.min-label')) el.textContent = t('minutes', el.dataset.min);
    const toggle = $('lang-toggle');
    toggle.textContent = t('langToggle');
    toggle.setAttribute('lang', lang === 'zh' ? 'en' : 'zh-CN');
  }

  let toastTimer = null;
  /** A short message; a popover so it shows above any open dialog. */
  function toast(message, kind = 'error') {
    const el = $('toast');
    el.textContent = message;
    el.dataset.kind = kind;
    const canPop = typeof el.showPopover === 'function';
    if (canPop) {
      if (el.matches(':popover-open')) el.hidePopover();
      el.showPopover();
    } else {
      el.hidden = false;
    }
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      if (canPop) { if (el.matches(':popover-open')) el.hidePopover(); } else el.hidden = true;
    }, kind === 'error' ? 6000 : 2500);
  }

  function openDialog(dlg) {
    if (!dlg.open) {
      try { dlg.showModal(); } catch (_e) { dlg.setAttribute('open', ''); }
    }
  }
  function closeDialog(dlg) {
    if (dlg.open) dlg.close();
  }

  // ========================================================================== alert cards
  function markerEl(priority, severity, extra) {
    const p = priority in SHAPE ? priority : 'trouble';
    return h('div', { class: `marker prio-${p}` },
      h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[p] }),
      h('span', { class: 'prio-text', text: t(`priority.${p}`) }),
      severity ? h('span', { class: 'sev-text', text: t('severityLabel', t(`severity.${severity}`)) }) : null,
      extra || null);
  }

  function actionButton(action, label, cls) {
    return h('button', { type: 'button', class: `btn ${cls}`, data: { action }, text: label });
  }

  function cardActions(a) {
    const buttons = [];
    if (a.state === 'active_unack' || a.state === 'cleared_unack') {
      buttons.push(actionButton('ack', t('btnAck'), 'btn-ack'));
    }
    if (a.fire === 'watch' && !a.forwarded_at) {
      buttons.push(actionButton('confirm', t('btnFire'), 'btn-fire'));
      buttons.push(actionButton('dismiss', t('btnDismiss'), 'btn-secondary'));
    }
    buttons.push(actionButton('resolve', a.latched ? t('btnReset') : t('btnResolve'), 'btn-resolve'));
    if (a.state === 'shelved') buttons.push(actionButton('unshelve', t('btnUnshelve'), 'btn-secondary'));
    else if (!a.latched) buttons.push(actionButton('shelve', t('btnShelve'), 'btn-secondary'));
    return h('div', { class: 'actions' }, buttons);
  }

  function cardStatusLines(a) {
    const lines = [];
    if (a.acknowledged_at && a.state !== 'active_unack') {
      const who = staffName(a.acknowledged_by);
      lines.push(h('div', { class: 'status-line' }, who ? t('ackedBy', who) : t('acked'), ' · ',
        agoSpan(a.acknowledged_at, 'ago-inline')));
    }
    if (a.state === 'cleared_unack' && (a.condition_cleared_at || a.cleared_at)) {
      lines.push(h('div', { class: 'status-line' }, t('clearedLabel'), ' · ',
        agoSpan(a.condition_cleared_at || a.cleared_at, 'ago-inline')));
    }
    if (a.state === 'shelved' && a.shelved_until) {
      lines.push(h('div', { class: 'status-line', text: t('shelvedUntil', clockText(a.shelved_until)) }));
    }
    if (Number(a.escalation_level) > 0) {
      lines.push(h('div', { class: 'status-line', text: t('escalated', a.escalation_level) }));
    }
    if (a.note) lines.push(h('div', { class: 'status-line note', text: t('note', a.note) }));
    return lines;
  }

  function renderCard(a) {
    const p = a.priority in SHAPE ? a.priority : 'trouble';
    const occurrences = Number(a.occurrences) || 1;
    const badges = [
      h('span', { class: `badge badge-state state-${a.state}`, text: t(`state.${a.state}`) }),
      occurrences > 1 ? h('span', {
        class: 'badge badge-count', title: t('occurrencesTitle', occurrences),
        text: t('occurrences', occurrences),
      }) : null,
      a.chattering ? h('span', { class: 'badge badge-chatter', text: t('chattering') }) : null,
      a.latched ? h('span', { class: 'badge badge-latched', text: t('latched') }) : null,
      a.forwarded_at ? h('span', {
        class: 'badge badge-forwarded', text: t('forwarded', clockText(a.forwarded_at)),
      }) : null,
    ];
    const where = whereParts(a);
    const valueText = typeof a.value === 'number' ? t('value', formatValue(a.value)) : formatValue(a.value);
    const device = isSystem(a) ? a.device_id
      : String(a.device_id || '').startsWith('floor:') ? t('correlated')
        : deviceName(a.device_id, a.device_type);
    return h('article', {
      class: `alert-card prio-${p} sev-${a.severity || 'unknown'} state-${a.state}${isSystem(a) ? ' system' : ''}`,
      data: { alertId: String(a.id), state: a.state, priority: p, sig: cardSignature(a) },
    },
    markerEl(p, a.severity),
    h('div', { class: 'card-body' },
      h('h3', { class: 'title', text: alertTitle(a) }),
      h('div', { class: 'where' },
        where.join(' · '),
        a.resident_name ? [where.length ? ' · ' : '', h('strong', { class: 'resident', text: a.resident_name })] : null),
      h('div', { class: 'device' }, device, valueText ? ` · ${valueText}` : ''),
      h('div', { class: 'badges' }, badges),
      cardStatusLines(a)),
    h('div', { class: 'when' },
      agoSpan(a.raised_at, 'ago big'),
      h('span', { class: 'clock-small', text: t('raisedAt', clockText(a.raised_at)) })),
    cardActions(a));
  }

  function cardSignature(a) {
    return `${lang}|${state.meta ? 1 : 0}|${state.devices ? 1 : 0}|${JSON.stringify(a)}`;
  }

  /** Keyed update of a list of cards: unchanged cards keep their element (and focus). */
  function syncCards(container, alerts) {
    const existing = new Map();
    for (const el of container.children) existing.set(el.dataset.alertId, el);
    let prev = null;
    for (const a of alerts) {
      const key = String(a.id);
      let el = existing.get(key);
      if (el && el.dataset.sig !== cardSignature(a)) {
        const fresh = renderCard(a);
        el.replaceWith(fresh);
        el = fresh;
      } else if (!el) {
        el = renderCard(a);
      }
      existing.delete(key);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (el !== want) container.insertBefore(el, want);
      prev = el;
    }
    for (const el of existing.values()) el.remove();
  }

  function renderAlertsView() {
    const list = sortedAlerts();
    syncCards($('alerts-view'), list);
    $('alerts-loading').hidden = state.snapshotReceived;
    $('alerts-empty').hidden = !state.snapshotReceived || list.length > 0;
    const unack = list.filter((a) => a.state === 'active_unack').length;
    $('tab-count-alerts').textContent = list.length ? `(${unack ? `${unack}/` : ''}${list.length})` : '';
    document.querySelector('.tab[data-view="alerts"]').classList.toggle('has-unack', unack > 0);
    document.title = `${unack ? `(${unack}) ` : ''}${t('appName')}`;
    const recovered = list.filter((a) => a.state === 'cleared_unack' && a.priority === 'trouble').length;
    $('bulk-bar').hidden = recovered < 2;
    $('ack-cleared-all').textContent = t('ackAllRecovered', recovered);
  }

  function renderRecent() {
    const ol = $('recent-list');
    ol.replaceChildren(...state.recent.map(({ change: c, replay }) => {
      const a = c.alert || {};
      const who = c.by ? staffName(c.by) : '';
      return h('li', { class: `recent-item${replay ? ' replayed' : ''} prio-${a.priority || 'trouble'}` },
        h('span', { class: 'recent-time', text: clockText(c.at) }),
        ' ',
        h('span', { class: 'recent-action', text: t(`action.${c.action}`) }),
        ' ',
        h('span', { class: 'recent-what', text: [alertTitle(a), ...whereParts(a)].filter(Boolean).join(' · ') }),
        who && !String(c.by).startsWith('system:') ? h('span', { class: 'recent-by', text: ` · ${who}` }) : null,
        replay ? h('span', { class: 'recent-away', text: ` (${t('whileAway')})` }) : null);
    }));
    $('recent-empty').hidden = state.recent.length > 0;
  }

  // ================================================================================ floors
  let floorsBuiltFor = null; // language + meta identity the floor grid was built for

  function buildFloors() {
    const view = $('floors-view');
    const floors = metaFloors();
    if (!floors.length) {
      view.replaceChildren(h('p', { class: 'loading', text: t('metaLoading') }));
      floorsBuiltFor = null;
      return;
    }
    view.replaceChildren(...floors.map((f) => h('section', { class: 'floor', data: { floor: String(f.id) } },
      h('div', { class: 'floor-head' },
        h('h2', { class: 'floor-name' }, floorLabel(f.id), f.name && f.name !== String(f.id) ? h('span', { class: 'muted', text: ` ${f.name}` }) : null),
        h('div', { class: 'floor-alerts', data: { floorAlerts: String(f.id) } })),
      h('div', { class: 'room-grid' }, (f.rooms || []).map((r) => h('button', {
        type: 'button', class: 'room-tile', data: { room: String(r.id), floor: String(f.id) },
      }))))));
    floorsBuiltFor = `${lang}|${floors.length}`;
  }

  function roomResidents(roomId) {
    if (!state.devices) return [];
    const names = new Set();
    for (const d of state.devices) if (String(d.room) === String(roomId) && d.resident_name) names.add(d.resident_name);
    return [...names];
  }

  function renderFloors() {
    if (floorsBuiltFor !== `${lang}|${metaFloors().length}` || !metaFloors().length) buildFloors();
    if (!metaFloors().length) return;
    const byRoom = new Map();
    const byFloor = new Map();
    for (const a of state.alerts.values()) {
      if (isSystem(a)) continue;
      const room = alertRoom(a);
      const floor = alertFloor(a);
      if (room) {
        const key = room;
        if (!byRoom.has(key)) byRoom.set(key, []);
        byRoom.get(key).push(a);
      } else if (floor) {
        const key = floor;
        if (!byFloor.has(key)) byFloor.set(key, []);
        byFloor.get(key).push(a);
      }
    }
    for (const tile of document.querySelectorAll('#floors-view .room-tile')) {
      updateRoomTile(tile, byRoom.get(tile.dataset.room) || []);
    }
    for (const box of document.querySelectorAll('#floors-view [data-floor-alerts]')) {
      const list = (byFloor.get(box.dataset.floorAlerts) || []).sort(compareAlerts);
      box.replaceChildren(...list.map((a) => h('button', {
        type: 'button', class: `floor-chip prio-${a.priority in SHAPE ? a.priority : 'trouble'} state-${a.state}`,
        data: { floorChip: box.dataset.floorAlerts, alertRef: String(a.id) },
      },
      h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[a.priority] || SHAPE.trouble }),
      ` ${t(`priority.${a.priority}`)} · ${alertTitle(a)} · ${t(`state.${a.state}`)} · `,
      agoSpan(a.raised_at, 'ago-inline'))));
    }
  }

  function updateRoomTile(tile, alerts) {
    const worst = worstAlert(alerts);
    const p = worst ? (worst.priority in SHAPE ? worst.priority : 'trouble') : 'none';
    const unack = alerts.some((a) => a.state === 'active_unack');
    const sig = `${lang}|${p}|${unack}|${alerts.length}|${worst ? worst.severity : ''}|${roomResidents(tile.dataset.room).join(',')}`;
    if (tile.dataset.sig === sig) return;
    tile.dataset.sig = sig;
    tile.className = `room-tile worst-${p}${unack ? ' has-unack' : ''}`;
    tile.dataset.worst = p;
    const residents = roomResidents(tile.dataset.room);
    const status = worst
      ? h('span', { class: 'tile-status' },
        h('span', { class: 'shape', 'aria-hidden': 'true', text: SHAPE[p] }),
        ` ${t(`priority.${p}`)} `,
        h('span', { class: 'tile-count', text: t('roomCount', alerts.length) }),
        unack ? h('span', { class: 'tile-unack', text: ` · ${t('state.active_unack')}` }) : null)
      : h('span', { class: 'tile-status ok', text: `✓ ${t('normal')}` });
    tile.replaceChildren();
    appendAll(tile, [
      h('span', { class: 'tile-name', text: roomLabel(tile.dataset.room, tile.dataset.floor) }),
      status,
      residents.length ? h('span', { class: 'tile-residents', text: residents.join(' ') }) : null]);
  }

  function openRoom(roomId, floorId) {
    state.openRoom = { room: roomId, floor: floorId };
    renderRoomDialog();
    openDialog($('room-dialog'));
  }
  function openFloorAlerts(floorId) {
    state.openRoom = { room: null, floor: floorId };
    renderRoomDialog();
    openDialog($('room-dialog'));
  }

  function roomAlertsFilter(sel) {
    return (a) => !isSystem(a) && (sel.room != null
      ? alertRoom(a) === String(sel.room)
      : !alertRoom(a) && alertFloor(a) === String(sel.floor));
  }

  function renderRoomDialog() {
    const sel = state.openRoom;
    if (!sel) return;
    $('room-title').textContent = sel.room != null
      ? [roomLabel(sel.room, sel.floor), floorLabel(sel.floor)].filter(Boolean).join(' · ')
      : `${floorLabel(sel.floor)} · ${t('floorAlerts')}`;
    const alerts = sortedAlerts(roomAlertsFilter(sel));
    syncCards($('room-alerts'), alerts);
    $('room-alerts-empty').hidden = alerts.length > 0;
    const devices = (state.devices || []).filter((d) => (sel.room != null
      ? String(d.room) === String(sel.room)
      : (d.room == null || d.room === '') && String(d.floor) === String(sel.floor)));
    $('room-devices').replaceChildren(...(state.devices
      ? devices.map((d) => deviceRow(d))
      : [h('p', { class: 'muted', text: t('devicesLoading') })]));
  }

  // =============================================================================== devices
  function openAlertsFor(deviceId, rules) {
    const out = [];
    for (const a of state.alerts.values()) if (a.device_id === deviceId && (!rules || rules.has(a.rule))) out.push(a);
    return out;
  }

  function onlineText(d) {
    const key = d.online === true ? 'true' : d.online === false ? 'false' : 'null';
    return t(`online.${key}`);
  }

  function deviceRow(d, extra) {
    const key = d.online === true ? 'online' : d.online === false ? 'offline' : 'never';
    const where = [floorLabel(d.floor), roomLabel(d.room, d.floor), d.bed ? t('bed', d.bed) : '']
      .filter(Boolean).join(' · ');
    return h('button', { type: 'button', class: `device-row dev-${key}`, data: { device: d.id } },
      h('span', { class: 'dev-state' },
        h('span', { class: 'dev-dot', 'aria-hidden': 'true', text: key === 'online' ? '●' : key === 'offline' ? '✕' : '?' }),
        ` ${onlineText(d)}`),
      h('span', { class: 'dev-name' },
        h('strong', { text: deviceTypeLabel(d.type) }), ` ${d.label || d.id}`,
        d.label && d.label !== d.id ? h('span', { class: 'muted', text: ` (${d.id})` }) : null),
      h('span', { class: 'dev-where' }, where, d.resident_name ? ` · ${d.resident_name}` : ''),
      h('span', { class: 'dev-seen' }, d.last_seen
        ? [t('lastSeen', ''), agoSpan(d.last_seen, 'ago-inline')]
        : t('neverSeen')),
      d.maintenance_until
        ? h('span', { class: 'dev-maint', text: t('maintenanceUntil', clockText(d.maintenance_until)) }) : null,
      extra ? h('span', { class: 'dev-extra', text: extra }) : null,
      h('span', { class: 'dev-history', text: `${t('history')} ›` }));
  }

  function deviceGroups() {
    const devices = state.devices || [];
    const alertDevices = (rules) => {
      const ids = new Map();
      for (const a of state.alerts.values()) {
        if (rules.has(a.rule) && conditionActive(a) && !ids.has(a.device_id)) ids.set(a.device_id, a);
      }
      return ids;
    };
    const known = (map) => [...map.keys()].map((id) => state.devicesById.get(id)
      || { id, type: map.get(id).device_type, room: map.get(id).room, floor: map.get(id).floor, online: null });
    const offlineAlerts = alertDevices(new Set(['device_offline']));
    const offline = devices.filter((d) => d.online === false);
    for (const d of known(offlineAlerts)) if (!offline.some((x) => x.id === d.id)) offline.push(d);
    const battery = alertDevices(new Set(['battery_low', 'battery_low_reported']));
    return [
      { key: 'offline', items: offline },
      { key: 'battery', items: known(battery), extra: (d) => formatValue(battery.get(d.id) && battery.get(d.id).value, '%') },
      { key: 'tamper', items: known(alertDevices(new Set(['tamper']))) },
      { key: 'fault', items: known(alertDevices(new Set(['device_fault']))) },
      { key: 'maintenance', items: devices.filter((d) => d.maintenance_until) },
      { key: 'never', items: devices.filter((d) => d.online === null || d.online === undefined) },
    ];
  }

  function renderDevices() {
    const view = $('devices-view');
    if (!state.devices) {
      view.replaceChildren(h('p', { class: 'loading', text: t('devicesLoading') }));
      return;
    }
    const groups = deviceGroups();
    const problems = new Set();
    for (const g of groups) for (const d of g.items) problems.add(d.id);
    const unreg = Array.isArray(state.unregistered) ? state.unregistered : [];
    $('tab-count-devices').textContent = problems.size + unreg.length ? `(${problems.size + unreg.length})` : '';
    const section = (g) => h('section', { class: `dev-group group-${g.key}`, data: { group: g.key } },
      h('h2', {}, `${t(`groups.${g.key}`)} `, h('span', { class: 'group-count', text: `(${g.items.length})` })),
      g.items.length
        ? h('div', { class: 'device-list' }, g.items.map((d) => deviceRow(d, g.extra ? g.extra(d) : '')))
        : h('p', { class: 'muted', text: t('groupEmpty') }));
    const unregistered = h('section', { class: 'dev-group group-unregistered', data: { group: 'unregistered' } },
      h('h2', {}, `${t('groups.unregistered')} `, h('span', { class: 'group-count', text: `(${unreg.length})` })),
      unreg.length
        ? h('div', { class: 'device-list' }, unreg.map(unregisteredRow))
        : h('p', { class: 'muted', text: t('groupEmpty') }));
    // devices never heard from are many after an install and least urgent: last
    const never = groups.filter((g) => g.key === 'never');
    view.replaceChildren(
      h('p', { class: 'devices-summary', text: t('devicesSummary', state.devices.length, problems.size) }),
      ...groups.filter((g) => g.key !== 'never').map(section),
      unregistered,
      ...never.map(section));
  }

  function unregisteredRow(u) {
    const row = u || {};
    const entries = Object.entries(row).filter(([k, v]) => v != null && typeof v !== 'object'
      && !(k.endsWith('_ms') && k.slice(0, -3) in row)); // epoch twins of the RFC 3339 times
    return h('div', { class: 'unreg-row', data: { unregistered: u && u.device_id ? String(u.device_id) : '' } },
      entries.map(([k, v]) => {
        const isTime = /(_seen|_at)$/.test(k) && Number.isFinite(ms(v));
        return h('span', { class: `unreg-field unreg-${k}` },
          h('span', { class: 'muted', text: `${t(`unregKeys.${k}`, k)}：` }),
          isTime ? [clockText(v), ' (', agoSpan(v, 'ago-inline'), ')'] : String(v));
      }));
  }

  // ======================================================================= device history
  const DAY_MS = 24 * 3600 * 1000;
  let historySeq = 0;

  function numericFields(type) {
    const dt = state.meta && state.meta.device_types && state.meta.device_types[type];
    if (!dt || !dt.fields) return [];
    return Object.entries(dt.fields)
      .filter(([, spec]) => spec && spec.kind === 'number')
      .map(([name, spec]) => ({ name, unit: spec.unit || '', description: spec.description || name }));
  }

  function openHistory(deviceId) {
    const d = state.devicesById.get(deviceId) || { id: deviceId };
    const fields = numericFields(d.type);
    state.historyDevice = { id: deviceId, field: fields.length ? pickDefaultField(fields) : null };
    renderHistory();
    openDialog($('history-view'));
    if (state.historyDevice.field) loadHistory();
  }

  function pickDefaultField(fields) {
    const preferred = ['heart_rate_bpm', 'pressure_mpa', 'temperature_c', 'cable_temp_c', 'residual_current_ma', 'battery_pct'];
    for (const p of preferred) if (fields.some((f) => f.name === p)) return p;
    return fields[0].name;
  }

  function renderHistory() {
    const sel = state.historyDevice;
    if (!sel) return;
    const d = state.devicesById.get(sel.id) || { id: sel.id };
    $('history-title').textContent = `${t('history')} · ${deviceName(d.id, d.type)}`;
    $('history-sub').textContent = [
      [floorLabel(d.floor), roomLabel(d.room, d.floor), d.bed ? t('bed', d.bed) : ''].filter(Boolean).join(' · '),
      d.resident_name || '', onlineText(d), t('historyRange'),
    ].filter(Boolean).join(' · ');
    const fields = numericFields(d.type);
    $('history-fields').replaceChildren(...fields.map((f) => h('button', {
      type: 'button', class: `btn btn-field${f.name === sel.field ? ' selected' : ''}`,
      'aria-pressed': f.name === sel.field ? 'true' : 'false', data: { field: f.name },
    }, `${fieldLabel(f)}${f.unit ? ` (${f.unit})` : ''}`)));
    if (!fields.length) {
      $('history-latest').textContent = '';
      $('history-chart').replaceChildren(h('p', { class: 'no-data', text: state.meta ? t('noNumericFields') : t('metaLoading') }));
    }
  }

  async function loadHistory() {
    const sel = state.historyDevice;
    if (!sel || !sel.field) return;
    const seq = ++historySeq;
    $('history-latest').textContent = '';
    $('history-chart').replaceChildren(h('p', { class: 'muted', text: t('loading') }));
    const since = new Date(Date.now() - DAY_MS).toISOString();
    const url = `/api/devices/${encodeURIComponent(sel.id)}/readings?field=${encodeURIComponent(sel.field)}&since=${encodeURIComponent(since)}`;
    const res = await getJson(url);
    if (seq !== historySeq) return; // a newer request superseded this one
    if (!res.ok || !res.data) {
      $('history-chart').replaceChildren(h('p', { class: 'no-data', text: t('loadFailed') }));
      return;
    }
    const unit = res.data.unit || (numericFields((state.devicesById.get(sel.id) || {}).type)
      .find((f) => f.name === sel.field) || {}).unit || '';
    const points = (Array.isArray(res.data.points) ? res.data.points : [])
      .map((p) => ({ t: ms(p && p.ts), v: p && typeof p.value === 'number' ? p.value : Number(p && p.value) }))
      .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
      .sort((a, b) => a.t - b.t);
    if (!points.length) {
      $('history-chart').replaceChildren(h('p', { class: 'no-data', text: t('noData') }));
      return;
    }
    const last = points[points.length - 1];
    $('history-latest').replaceChildren(t('latest', formatValue(last.v, unit), agoText(new Date(last.t).toISOString())));
    $('history-chart').replaceChildren(drawChart(points, unit, Date.now() - DAY_MS, Date.now()));
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text != null) el.textContent = text;
    return el;
  }

  /** Line chart on inline SVG: y axis min/max (+ middle), time labels every 6 h, unit. */
  function drawChart(points, unit, t0, t1) {
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
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': `${t('historyRange')} ${unit}` });
    svg.append(s('rect', { x: L, y: T, width: W - L - R, height: H - T - B, class: 'chart-bg' }));
    for (const v of [dataLo, dataHi, (dataLo + dataHi) / 2]) {
      svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'chart-grid' }));
      svg.append(s('text', { x: L - 10, y: y(v) + 6, 'text-anchor': 'end', class: 'chart-label' }, formatValue(v)));
    }
    svg.append(s('text', { x: 10, y: T - 8, class: 'chart-unit' }, unit || ''));
    const step = 6 * 3600 * 1000;
    for (let tm = Math.ceil(start / step) * step; tm <= end; tm += step) {
      svg.append(s('line', { x1: x(tm), x2: x(tm), y1: T, y2: H - B, class: 'chart-grid' }));
      svg.append(s('text', { x: x(tm), y: H - B + 28, 'text-anchor': 'middle', class: 'chart-label' }, clockText(new Date(tm).toISOString())));
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

  // ================================================================= HTTP, login, actions
  /** fetch + JSON that never throws: {ok, status, data, detail}. */
  /** A viewer token for homes that keep reads behind a token (CAREWATCH_READ_ACCESS=token):
   *  opened once as /?token=..., then kept by this screen's browser. */
  function readToken() {
    const fromUrl = new URLSearchParams(location.search).get('token');
    if (fromUrl) {
      writeStorage(localStorage, 'carewatch.readToken', fromUrl);
      history.replaceState(null, '', location.pathname); // not left in the address bar
    }
    return readStorage(localStorage, 'carewatch.readToken');
  }

  async function getJson(url, options = {}) {
    try {
      const headers = { ...(options.headers || {}) };
      const token = readToken();
      if (token && !headers.Authorization) headers.Authorization = `Bearer ${token}`;
      const resp = await fetch(url, { cache: 'no-store', ...options, headers });
      let data = null;
      const text = await resp.text();
      if (text) { try { data = JSON.parse(text); } catch (_e) { data = null; } }
      return { ok: resp.ok, status: resp.status, data, detail: detailOf(data) };
    } catch (_e) {
      return { ok: false, status: 0, data: null, detail: null };
    }
  }
  function detailOf(data) {
    if (!data || typeof data !== 'object') return null;
    const d = data.detail;
    if (typeof d === 'string') return d;
    if (Array.isArray(d)) return d.map((x) => (x && x.msg) || '').filter(Boolean).join('; ') || null;
    return null;
  }

  function loadSession() {
    try {
      const s = JSON.parse(readStorage(sessionStorage, 'carewatch.session') || 'null');
      if (s && s.token && (!s.expires_at || ms(s.expires_at) > Date.now())) return s;
    } catch (_e) { /* ignore */ }
    return null;
  }
  function setSession(s) {
    state.session = s;
    writeStorage(sessionStorage, 'carewatch.session', s ? JSON.stringify(s) : null);
    if (s && s.staff_id) writeStorage(localStorage, 'carewatch.lastStaff', s.staff_id);
    renderStaff();
  }
  function currentSession() {
    const s = state.session;
    if (s && s.expires_at && ms(s.expires_at) <= Date.now()) { setSession(null); return null; }
    return s;
  }
  function renderStaff() {
    const s = state.session;
    $('staff-status').textContent = s ? t('onDuty', s.name || staffName(s.staff_id)) : '';
    $('login-open').hidden = !!s;
    $('logout').hidden = !s;
  }

  let pendingAction = null; // action to perform once logged in

  function fillStaffSelect() {
    const sel = $('login-staff');
    const staff = (state.meta && Array.isArray(state.meta.staff)) ? state.meta.staff.filter((x) => x && x.id) : [];
    const current = sel.value || readStorage(localStorage, 'carewatch.lastStaff') || '';
    sel.replaceChildren(
      h('option', { value: '', text: staff.length ? t('chooseStaff') : t('noStaff') }),
      ...staff.map((x) => h('option', { value: x.id, text: x.name || x.id })));
    if (staff.some((x) => x.id === current)) sel.value = current;
  }

  function openLogin(reason) {
    fillStaffSelect();
    $('login-pin').value = '';
    $('login-error').hidden = true;
    $('login-reason').textContent = reason || '';
    $('login-reason').hidden = !reason;
    $('login-submit').disabled = false;
    openDialog($('login-dialog'));
    ($('login-staff').value ? $('login-pin') : $('login-staff')).focus();
  }

  async function submitLogin() {
    const staffId = $('login-staff').value;
    const pin = $('login-pin').value;
    const err = $('login-error');
    if (!staffId || !pin) { err.textContent = t('pinRequired'); err.hidden = false; return; }
    $('login-submit').disabled = true;
    const res = await getJson('/api/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ staff_id: staffId, pin }),
    });
    $('login-submit').disabled = false;
    if (res.ok && res.data && res.data.token) {
      setSession({
        token: res.data.token, staff_id: res.data.staff_id || staffId,
        name: res.data.name || staffName(staffId), expires_at: res.data.expires_at || null,
      });
      closeDialog($('login-dialog'));
      const next = pendingAction;
      pendingAction = null;
      if (next && next.bulk) ackMany(next.bulk);
      else if (next) performAction(next);
      return;
    }
    $('login-pin').value = '';
    err.textContent = res.detail || (res.status === 401 ? t('wrongPin')
      : res.status === 429 ? t('tooMany') : res.status === 0 ? t('netError') : t('loginFailed'));
    err.hidden = false;
    $('login-pin').focus();
  }

  /** Card button pressed: collect what the action needs, then perform it. */
  function startAction(action, alertId) {
    const a = state.alerts.get(String(alertId));
    if (['resolve', 'shelve', 'confirm', 'dismiss'].includes(action)) {
      openConfirm(action, a, alertId);
      return;
    }
    performAction({ action, alertId, body: { note: null } });
  }

  let confirmContext = null;
  function openConfirm(action, a, alertId) {
    confirmContext = { action, alertId };
    const latched = a && a.latched;
    const titles = { shelve: 'confirmShelve', confirm: 'confirmFire', dismiss: 'confirmDismiss' };
    $('confirm-title').textContent = t(titles[action] || (latched ? 'confirmReset' : 'confirmResolve'));
    $('confirm-subject').textContent = a
      ? [alertTitle(a), ...whereParts(a), a.resident_name || ''].filter(Boolean).join(' · ') : `#${alertId}`;
    $('confirm-minutes').hidden = action !== 'shelve';
    $('confirm-note').value = '';
    const buttons = { shelve: 'btnShelve', confirm: 'btnFire', dismiss: 'btnDismiss' };
    $('confirm-submit').textContent = t(buttons[action] || (latched ? 'btnReset' : 'btnResolve'));
    openDialog($('confirm-dialog'));
    $('confirm-note').focus();
  }

  function submitConfirm() {
    const ctx = confirmContext;
    const note = $('confirm-note').value.trim() || null;
    if (ctx && ctx.action === 'dismiss' && !note) {
      toast(t('reasonNeeded'), 'error');
      $('confirm-note').focus();
      return;
    }
    confirmContext = null;
    closeDialog($('confirm-dialog'));
    if (!ctx) return;
    const body = { note };
    if (ctx.action === 'shelve') {
      const checked = document.querySelector('#confirm-minutes input[name="minutes"]:checked');
      body.minutes = Number(checked ? checked.value : 30) || 30;
    }
    performAction({ action: ctx.action, alertId: ctx.alertId, body });
  }

  async function performAction(req) {
    const session = currentSession();
    if (!session) {
      pendingAction = req;
      openLogin(t('loginReason'));
      return;
    }
    setButtonsBusy(req.alertId, true);
    const res = await getJson(`/api/alerts/${encodeURIComponent(req.alertId)}/${req.action}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` },
      body: JSON.stringify(req.body || { note: null }),
    });
    setButtonsBusy(req.alertId, false);
    if (res.ok) {
      if (res.data && res.data.id != null) upsertAlert(res.data);
      toast(`${t(`done.${req.action}`)}`, 'ok');
      scheduleRender();
      return;
    }
    if (res.status === 401 || res.status === 403) {
      setSession(null);
      pendingAction = req;
      openLogin(res.detail ? `${t('loginExpired')} (${res.detail})` : t('loginExpired'));
      return;
    }
    toast(res.detail || (res.status === 0 ? t('netError') : `${t('actionFailed')} (${res.status})`));
  }

  /** Recovered trouble alerts (device back online etc.) that only need a nod. */
  function recoveredTroubleIds() {
    return sortedAlerts((a) => a.state === 'cleared_unack' && a.priority === 'trouble').map((a) => String(a.id));
  }

  async function ackMany(ids) {
    const session = currentSession();
    if (!session) {
      pendingAction = { bulk: ids };
      openLogin(t('loginReason'));
      return;
    }
    const btn = $('ack-cleared-all');
    btn.disabled = true;
    let done = 0;
    for (let i = 0; i < ids.length; i += 1) {
      const res = await getJson(`/api/alerts/${encodeURIComponent(ids[i])}/ack`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` },
        body: JSON.stringify({ note: null }),
      });
      if (res.ok) {
        done += 1;
        if (res.data && res.data.id != null) upsertAlert(res.data);
        if (done % 20 === 0) scheduleRender();
      } else if (res.status === 401 || res.status === 403) {
        btn.disabled = false;
        setSession(null);
        pendingAction = { bulk: ids.slice(i) };
        openLogin(t('loginExpired'));
        scheduleRender();
        return;
      } else if (res.status === 0) {
        break; // server unreachable: stop, the banner tells why
      }
    }
    btn.disabled = false;
    toast(t('bulkDone', done), done ? 'ok' : 'error');
    scheduleRender();
  }

  function setButtonsBusy(alertId, busy) {
    for (const card of document.querySelectorAll(`.alert-card[data-alert-id="${CSS.escape(String(alertId))}"]`)) {
      for (const b of card.querySelectorAll('button[data-action]')) b.disabled = busy;
    }
  }

  // ================================================================================= sound
  const PATTERNS = {
    // fast high two-tone, every 2 s
    emergency: { period: 2, notes: [[880, 0, 0.16], [660, 0.2, 0.16], [880, 0.4, 0.16], [660, 0.6, 0.16]], wave: 'square', gain: 0.22 },
    // one medium beep every 5 s
    routine: { period: 5, notes: [[620, 0, 0.35]], wave: 'sine', gain: 0.35 },
    // short low beep every 15 s
    trouble: { period: 15, notes: [[330, 0, 0.15]], wave: 'triangle', gain: 0.35 },
  };
  const sound = {
    ctx: null,
    mutedUntil: 0,
    playing: null, // pattern currently scheduled
    nextAt: 0, // AudioContext time of the next pattern start
    scheduled: [], // oscillators not yet finished, so a change can stop them
  };

  /** Create/resume the AudioContext, only inside a user gesture: outside one the browser
   *  refuses and logs a warning. */
  function ensureAudio() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC || audioRunning()) { renderSoundUi(); return; }
    if (navigator.userActivation && !navigator.userActivation.isActive) return;
    try {
      if (!sound.ctx) {
        sound.ctx = new AC();
        sound.ctx.onstatechange = () => { renderSoundUi(); soundTick(); };
      }
      if (sound.ctx.state === 'suspended') sound.ctx.resume().then(renderSoundUi, () => {});
    } catch (_e) { /* no audio on this machine */ }
    renderSoundUi();
    soundTick();
  }
  function audioRunning() { return !!sound.ctx && sound.ctx.state === 'running'; }

  function isMuted() { return Date.now() < sound.mutedUntil; }

  /** The pattern the alarm wants to play (independent of mute and of audio being enabled). */
  function soundPattern() {
    let best = null;
    for (const a of state.alerts.values()) {
      if (a.state !== 'active_unack') continue;
      const p = a.priority in PATTERNS ? a.priority : 'trouble';
      if (best === null || PRIORITY_RANK[p] < PRIORITY_RANK[best]) best = p;
    }
    // A screen that cannot hear the server is itself a fault worth a beep.
    if (best === null && state.conn === 'lost' && state.lostSince && Date.now() - state.lostSince > LOST_SOUND_AFTER_MS) {
      best = 'trouble';
    }
    return best;
  }

  function stopScheduled() {
    for (const osc of sound.scheduled) { try { osc.stop(); } catch (_e) { /* already stopped */ } }
    sound.scheduled = [];
  }

  function playPatternAt(name, at) {
    const pat = PATTERNS[name];
    const ctx = sound.ctx;
    for (const [freq, offset, dur] of pat.notes) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = pat.wave;
      osc.frequency.value = freq;
      const t0 = at + offset;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(pat.gain, t0 + 0.01);
      gain.gain.setValueAtTime(pat.gain, t0 + dur - 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dur);
      osc.connect(gain).connect(ctx.destination);
      osc.onended = () => { sound.scheduled = sound.scheduled.filter((o) => o !== osc); };
      osc.start(t0);
      osc.stop(t0 + dur + 0.01);
      sound.scheduled.push(osc);
    }
  }

  /** Keep the right pattern scheduled. Runs every 250 ms and on every change; when the
   *  page is hidden (timers throttled to once a minute) it schedules further ahead. */
  function soundTick() {
    const want = (isMuted() || !audioRunning()) ? null : soundPattern();
    if (want !== sound.playing) {
      stopScheduled();
      sound.playing = want;
      sound.nextAt = audioRunning() ? sound.ctx.currentTime + 0.05 : 0;
    }
    if (!want) return;
    const horizon = document.hidden ? 70 : 1;
    const now = sound.ctx.currentTime;
    if (sound.nextAt < now) sound.nextAt = now + 0.05;
    while (sound.nextAt < now + horizon) {
      playPatternAt(want, sound.nextAt);
      sound.nextAt += PATTERNS[want].period;
    }
  }

  function toggleMute() {
    ensureAudio();
    sound.mutedUntil = isMuted() ? 0 : Date.now() + 60000;
    renderSoundUi();
    soundTick();
  }
  function unmute() {
    if (!sound.mutedUntil) return;
    sound.mutedUntil = 0;
    renderSoundUi();
  }

  function renderSoundUi() {
    $('sound-bar').hidden = audioRunning();
    const btn = $('mute');
    const muted = isMuted();
    btn.setAttribute('aria-pressed', muted ? 'true' : 'false');
    btn.classList.toggle('is-muted', muted);
    const left = Math.max(0, Math.ceil((sound.mutedUntil - Date.now()) / 1000));
    btn.textContent = muted ? t('muted', left) : t('mute');
    btn.title = muted ? t('mutedHint') : '';
  }

  // =========================================================================== live stream
  let source = null;
  let reconnectTimer = null;
  let replayTimer = null;

  /** Open the stream. The browser resends Last-Event-ID on its own reconnects; when we
   *  have to start a new EventSource ourselves we pass the last id in the query instead. */
  function connect(resume = false) {
    clearTimeout(reconnectTimer);
    if (source) { source.close(); source = null; }
    if (typeof EventSource === 'undefined') return;
    const params = new URLSearchParams();
    if (resume && state.lastId) params.set('last_event_id', state.lastId);
    const token = readToken();
    if (token) params.set('access_token', token);
    const url = `/api/alerts/stream${params.toString() ? `?${params}` : ''}`;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => { if (source === es) setConn('open'); };
    es.onerror = () => {
      if (source !== es) return;
      setConn('lost');
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): try again ourselves.
        reconnectTimer = setTimeout(() => connect(true), 3000);
      }
    };
    es.addEventListener('snapshot', (e) => { if (source === es) onSnapshot(parseJson(e.data)); });
    es.addEventListener('change', (e) => { if (source === es) onChange(parseJson(e.data), e.lastEventId); });
  }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (_e) { return null; }
  }

  function setConn(conn) {
    if (conn === 'lost' && state.conn !== 'lost') state.lostSince = Date.now();
    if (conn === 'open') { state.lostSince = null; state.replayCount = 0; }
    state.conn = conn;
    renderConn();
    soundTick();
  }

  function onSnapshot(snap) {
    if (!snap || typeof snap !== 'object') return;
    if (state.conn !== 'open') setConn('open');
    const before = new Set([...state.alerts.values()].filter((a) => a.state === 'active_unack').map((a) => a.id));
    state.alerts.clear();
    for (const a of Array.isArray(snap.alerts) ? snap.alerts : []) {
      if (a && a.id != null && a.state !== 'closed') state.alerts.set(String(a.id), a);
    }
    state.lastId = Number(snap.last_id) || 0;
    state.snapshotReceived = true;
    // an alarm that appeared while we were away is a new raise
    if (state.snapshotSeenBefore && [...state.alerts.values()].some((a) => a.state === 'active_unack' && !before.has(a.id))) unmute();
    state.snapshotSeenBefore = true;
    scheduleRender();
    soundTick();
  }

  function upsertAlert(a) {
    const key = String(a.id);
    const old = state.alerts.get(key);
    if (a.state === 'closed') state.alerts.delete(key);
    else state.alerts.set(key, a);
    return old;
  }

  function onChange(c, lastEventId) {
    if (!c || typeof c !== 'object') return;
    if (state.conn !== 'open') setConn('open');
    const id = Number(c.id != null ? c.id : lastEventId);
    const fresh = !Number.isFinite(id) || id > state.lastId;
    if (Number.isFinite(id) && id > state.lastId) state.lastId = id;
    const a = c.alert && typeof c.alert === 'object' && c.alert.id != null ? c.alert : null;
    if (a && fresh) {
      const old = upsertAlert(a);
      const newlyUnack = a.state === 'active_unack' && (!old || old.state !== 'active_unack');
      if (c.action === 'raise' || newlyUnack) unmute();
    }
    state.recent.unshift({ change: c, replay: !!c.replay });
    if (state.recent.length > RECENT_MAX) state.recent.length = RECENT_MAX;
    if (c.replay) showReplayNotice();
    if (a && DEVICE_RULES.has(a.rule)) scheduleDevicesRefresh();
    scheduleRender();
    soundTick();
  }

  function showReplayNotice() {
    state.replayCount += 1;
    const el = $('replay-notice');
    el.textContent = t('replayNotice', state.replayCount);
    el.hidden = false;
    clearTimeout(replayTimer);
    replayTimer = setTimeout(() => { el.hidden = true; }, 10000);
  }

  // ================================================================ banners & header
  function renderConn() {
    const status = $('conn-status');
    status.dataset.conn = state.conn;
    status.textContent = state.conn === 'open' ? t('connOk') : state.conn === 'lost' ? t('connLost') : t('connConnecting');
    const banner = $('conn-banner');
    const lost = state.conn === 'lost';
    banner.hidden = !lost;
    if (lost) {
      const secs = Math.max(0, Math.floor((Date.now() - (state.lostSince || Date.now())) / 1000));
      $('conn-banner-text').textContent = t('connBanner', t('duration', secs));
    }
  }

  function renderSystemBanner() {
    const lines = [];
    for (const a of sortedAlerts(isSystem)) lines.push(t('systemFault', alertTitle(a)));
    const r = state.readyz;
    if (r && r.checks && typeof r.checks === 'object') {
      const failing = Object.entries(r.checks).filter(([, ok]) => ok === false).map(([k]) => t(`checks.${k}`, k));
      if (failing.length) lines.push(t('readyFail', failing.join('、')));
    } else if (r && r.ok === false) {
      lines.push(t('readyFail', '?'));
    }
    const banner = $('system-banner');
    banner.hidden = lines.length === 0;
    banner.replaceChildren(...lines.map((l) => h('div', { class: 'banner-line' },
      h('span', { class: 'banner-icon', 'aria-hidden': 'true', text: '⚠' }), ` ${l}`)));
  }

  function renderClock() {
    const now = new Date();
    $('clock').textContent = now.toLocaleString(locale(), {
      month: 'numeric', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    });
  }

  function renderSite() {
    const site = state.meta && state.meta.site;
    $('site-name').textContent = site && site.name ? site.name : '';
  }

  // ============================================================================ rendering
  let renderPending = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    setTimeout(() => { renderPending = false; renderAll(); }, 0);
  }

  function renderAll() {
    renderAlertsView();
    renderRecent();
    renderSystemBanner();
    if (state.view === 'floors') renderFloors();
    if (state.view === 'notifications') renderNotifications();
    if (state.view === 'devices') renderDevices();
    else if (state.devices) updateDeviceTabCount();
    if ($('room-dialog').open) renderRoomDialog();
  }

  // ================================================================ notifications (delivery log)

  async function refreshNotifications() {
    const res = await getJson('/api/notifications?limit=100');
    if (res.ok && Array.isArray(res.data)) {
      state.notifications = res.data;
      renderNotifications();
    }
  }

  function renderNotifications() {
    const view = $('notifications-view');
    const rows = Array.isArray(state.notifications) ? state.notifications : [];
    const failing = rows.filter((n) => n.state === 'failed' || (n.state === 'pending' && n.attempts > 0));
    $('tab-count-notifications').textContent = failing.length ? `(${failing.length}!)` : '';
    if (state.view !== 'notifications') return;
    const targetName = (tg) => t(`notif.targets.${tg}`, tg);
    const statusText = (n) => (n.state === 'delivered' ? t('notif.delivered')
      : n.state === 'failed' ? t('notif.failed') : t('notif.pending', n.attempts || 0));
    const what = (n) => {
      const a = state.alerts.get(String(n.alert_id));
      const title = n.rule ? (state.meta && state.meta.rules && state.meta.rules[n.rule]
        ? (lang === 'en' ? state.meta.rules[n.rule].title_en : state.meta.rules[n.rule].title_zh) : n.rule) : '';
      return `${title || (a ? alertTitle(a) : `#${n.alert_id}`)} · ${t(`action.${n.action}`, n.action)}`;
    };
    view.replaceChildren(
      h('h2', { class: 'notif-title', text: t('notif.title') }),
      rows.length ? h('table', { class: 'notif-table' },
        h('thead', {}, h('tr', {}, ['when', 'target', 'what', 'status'].map((k) => h('th', { text: t(`notif.${k}`) })))),
        h('tbody', {}, rows.map((n) => h('tr', { class: `notif-row notif-${n.state}`, data: { key: n.key } },
          h('td', { text: clockText(n.created_at) }),
          h('td', { text: targetName(n.target) }),
          h('td', { text: what(n) }),
          h('td', { text: statusText(n) + (n.last_error && n.state !== 'delivered' ? ` · ${n.last_error}` : '') })))))
        : h('p', { class: 'muted', text: t('notif.empty') }));
  }

  function updateDeviceTabCount() {
    const problems = new Set();
    for (const g of deviceGroups()) for (const d of g.items) problems.add(d.id);
    const n = problems.size + (Array.isArray(state.unregistered) ? state.unregistered.length : 0);
    $('tab-count-devices').textContent = n ? `(${n})` : '';
  }

  function showView(view) {
    if (!['alerts', 'floors', 'devices', 'notifications'].includes(view)) view = 'alerts';
    state.view = view;
    for (const tab of document.querySelectorAll('.tab[data-view]')) {
      tab.setAttribute('aria-selected', tab.dataset.view === view ? 'true' : 'false');
    }
    for (const page of document.querySelectorAll('.view[data-page]')) page.hidden = page.dataset.page !== view;
    if (view === 'devices') refreshDevices();
    if (view === 'notifications') refreshNotifications();
    renderAll();
  }

  function setLang(next) {
    lang = next === 'en' ? 'en' : 'zh';
    writeStorage(localStorage, 'carewatch.lang', lang);
    document.dispatchEvent(new CustomEvent('carewatch:lang', { detail: lang })); // report.js
    applyStaticI18n();
    renderStaff();
    renderSoundUi();
    renderConn();
    renderClock();
    fillStaffSelect();
    floorsBuiltFor = null;
    renderAll();
    if ($('history-view').open) { renderHistory(); loadHistory(); }
  }

  // ========================================================================== data loads
  async function loadMeta() {
    const res = await getJson('/api/meta');
    if (res.ok && res.data && typeof res.data === 'object') {
      state.meta = res.data;
      renderSite();
      fillStaffSelect();
      floorsBuiltFor = null;
      for (const el of document.querySelectorAll('.alert-card')) el.dataset.sig = ''; // relabel
      renderAll();
      return;
    }
    if (res.status === 401) {
      // reads need a token here: ask once; the home's IT gives each screen a viewer token
      const given = window.prompt(t('needReadToken'));
      if (given) writeStorage(localStorage, 'carewatch.readToken', given.trim());
      if (given) { location.reload(); return; }
    }
    setTimeout(loadMeta, 10000); // retry until the server answers
  }

  let devicesLoading = false;
  let devicesTimer = null;
  async function refreshDevices() {
    if (devicesLoading) return;
    devicesLoading = true;
    const [devs, unreg] = await Promise.all([getJson('/api/devices'), getJson('/api/devices/unregistered')]);
    devicesLoading = false;
    if (devs.ok && Array.isArray(devs.data)) {
      const hadDevices = !!state.devices;
      state.devices = devs.data.filter((d) => d && d.id != null);
      state.devicesById = new Map(state.devices.map((d) => [d.id, d]));
      if (!hadDevices) for (const el of document.querySelectorAll('.alert-card')) el.dataset.sig = '';
    }
    if (unreg.ok && Array.isArray(unreg.data)) state.unregistered = unreg.data;
    scheduleRender();
    if ($('history-view').open && state.historyDevice && !state.historyDevice.field) {
      openHistory(state.historyDevice.id);
    }
  }
  function scheduleDevicesRefresh() {
    clearTimeout(devicesTimer);
    devicesTimer = setTimeout(refreshDevices, 1500);
  }

  let readyFailures = 0;
  async function pollReady() {
    const res = await getJson('/readyz');
    if (res.status === 0) {
      readyFailures += 1;
      // The stream may look open while the server is gone (half-open TCP): reconnect.
      if (readyFailures >= 2 && state.conn === 'open') { setConn('lost'); connect(true); }
    } else {
      readyFailures = 0;
      state.readyz = { ok: res.ok, checks: (res.data && res.data.checks) || null };
    }
    renderSystemBanner();
  }

  // ================================================================================ events
  function bindEvents() {
    // any gesture lets us start audio
    // Any click or key press may start audio. Not on pointerdown: hiding the sound bar
    // between press and release would move the button under the pointer.
    for (const type of ['click', 'keydown']) {
      document.addEventListener(type, ensureAudio, { capture: true, passive: true });
    }
    $('sound-enable').addEventListener('click', ensureAudio);
    for (const type of ['pointerdown', 'keydown', 'wheel']) {
      document.addEventListener(type, () => { lastInteraction = Date.now(); }, { capture: true, passive: true });
    }
    $('mute').addEventListener('click', toggleMute);
    $('lang-toggle').addEventListener('click', () => setLang(lang === 'zh' ? 'en' : 'zh'));
    $('login-open').addEventListener('click', () => { pendingAction = null; openLogin(''); });
    $('logout').addEventListener('click', () => setSession(null));
    $('ack-cleared-all').addEventListener('click', () => {
      const ids = recoveredTroubleIds();
      if (ids.length) ackMany(ids);
    });
    $('login-form').addEventListener('submit', (e) => { e.preventDefault(); submitLogin(); });
    $('login-cancel').addEventListener('click', () => { pendingAction = null; closeDialog($('login-dialog')); });
    $('login-dialog').addEventListener('cancel', () => { pendingAction = null; });
    $('confirm-form').addEventListener('submit', (e) => { e.preventDefault(); submitConfirm(); });
    $('confirm-cancel').addEventListener('click', () => { confirmContext = null; closeDialog($('confirm-dialog')); });
    $('room-dialog').addEventListener('close', () => {
      state.openRoom = null;
      $('room-alerts').replaceChildren(); // no duplicate cards left behind
      $('room-devices').replaceChildren();
    });
    $('history-view').addEventListener('close', () => { state.historyDevice = null; historySeq += 1; });

    document.addEventListener('click', (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      const actionBtn = target.closest('button[data-action]');
      if (actionBtn) {
        const card = actionBtn.closest('[data-alert-id]');
        if (card) startAction(actionBtn.dataset.action, card.dataset.alertId);
        return;
      }
      const tab = target.closest('.tab[data-view]');
      if (tab) { showView(tab.dataset.view); return; }
      const tile = target.closest('.room-tile[data-room]');
      if (tile) { openRoom(tile.dataset.room, tile.dataset.floor); return; }
      const chip = target.closest('[data-floor-chip]');
      if (chip) { openFloorAlerts(chip.dataset.floorChip); return; }
      const dev = target.closest('.device-row[data-device]');
      if (dev) { openHistory(dev.dataset.device); return; }
      const field = target.closest('#history-fields button[data-field]');
      if (field && state.historyDevice) {
        state.historyDevice.field = field.dataset.field;
        renderHistory();
        loadHistory();
        return;
      }
      const closer = target.closest('[data-close]');
      if (closer) closeDialog($(closer.dataset.close));
    });
    document.addEventListener('visibilitychange', () => { stopScheduled(); sound.playing = null; soundTick(); });
  }

  // ========================================================================= idle return
  let lastInteraction = Date.now();
  /** Nobody has touched the screen for a while: close dialogs, show the alert list, so a
   *  room or chart left open at 3 a.m. never hides a new alarm. */
  function idleReturn() {
    if (Date.now() - lastInteraction < IDLE_RESET_MS) return;
    lastInteraction = Date.now();
    pendingAction = null;
    confirmContext = null;
    for (const id of ['history-view', 'room-dialog', 'confirm-dialog', 'login-dialog']) closeDialog($(id));
    if (state.view !== 'alerts') showView('alerts');
  }

  // ================================================================================= start
  function everySecond() {
    idleReturn();
    renderClock();
    refreshAgoSpans();
    if (state.conn === 'lost') renderConn();
    if (sound.mutedUntil) {
      if (!isMuted()) sound.mutedUntil = 0;
      renderSoundUi();
    }
    soundTick();
  }

  function start() {
    state.session = loadSession();
    applyStaticI18n();
    renderStaff();
    renderSoundUi();
    renderConn();
    renderClock();
    bindEvents();
    renderAll();
    connect();
    loadMeta();
    refreshDevices();
    pollReady();
    setInterval(everySecond, 1000);
    setInterval(soundTick, 250);
    setInterval(refreshDevices, 15000);
    setInterval(pollReady, 10000);
    setInterval(refreshNotifications, 10000);
    refreshNotifications();
    setInterval(() => { if (state.session) currentSession(); }, 30000);
  }

  window.carewatch = {
    state,
    alerts: () => sortedAlerts(),
    soundPattern,
    muted: isMuted,
    audioRunning,
    showView,
    setLang,
    compareAlerts,
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
