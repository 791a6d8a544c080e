// icestation's status page: polls the admin API every 2 s and shows what it
// answers (docs/operations.md, "Status page"). The bit rate chart is kept
// here, from the relayed byte counters of /admin/v1/status: the daemon keeps
// no history. Text goes in with textContent only, never as HTML.
//
// The token (admin API over TCP): from the URL fragment (#token=...), which
// browsers never send to a server, or typed into the form a 401 brings up;
// kept in sessionStorage, for this tab only. Over a unix socket reached by
// `ssh -L`, no token is needed.
'use strict';

(() => {
  const POLL_MS = 2000;
  const WINDOW_MS = 15 * 60 * 1000;
  const TOKEN_KEY = 'icestation-admin-token';
  const samples = []; // {t: ms since epoch, toPeer, toClient: bits/s}
  let last = null; // {t: performance.now(), toPeer, toClient: bytes}
  let token = null;
  let clusterAbsent = false;
  let timer = null;

  const $ = (id) => document.getElementById(id);

  function set(key, text) {
    for (const e of document.querySelectorAll(`[data-k="${key}"]`)) e.textContent = text;
  }

  function int(n) {
    return Math.round(Number(n) || 0).toLocaleString('en-US');
  }

  function rate(bps) {
    const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
    let v = Number(bps) || 0;
    let i = 0;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return `${v.toFixed(i ? 2 : 0)} ${units[i]}`;
  }

  function uptime(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400);
    const hms = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60]
      .map((n) => String(n).padStart(2, '0')).join(':');
    return (d ? `${d} d ` : '') + hms;
  }

  function row(tbody, cells, attrs) {
    const tr = document.createElement('tr');
    for (const [k, v] of Object.entries(attrs || {})) tr.dataset[k] = v;
    for (const c of cells) {
      const td = document.createElement('td');
      const cell = typeof c === 'object' && c !== null ? c : { text: c };
      td.textContent = cell.text;
      if (cell.cls) td.className = cell.cls;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }

  function showError(msg) {
    $('error').textContent = msg;
    $('error').hidden = !msg;
  }

  function loadToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      token = decodeURIComponent(m[1]);
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      token = sessionStorage.getItem(TOKEN_KEY);
    }
  }

  class Unauthorized extends Error {}

  async function api(path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    if (r.status === 401) throw new Unauthorized('the admin API wants a token');
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  function renderStatus(s) {
    set('status', s.status);
    $('state').className = `badge ${s.status === 'running' ? 'ok' : 'warn'}`;
    set('version', s.version);
    set('uptime', uptime(s.uptime_s));
    for (const k of ['generation', 'workers', 'tcp_connections', 'tls_connections',
      'revocations', 'allocations']) set(k, int(s[k]));
    const rel = s.relayed || {};
    for (const k of ['to_peer_bytes', 'to_client_bytes', 'to_peer_packets', 'to_client_packets']) {
      set(`relayed.${k}`, int(rel[k]));
    }
    set('relayed.bits_per_second', rate(rel.bits_per_second));
    const tb = $('subservers');
    tb.replaceChildren();
    for (const sub of s.subservers || []) {
      row(tb, [sub.name, sub.status, (sub.listen || []).join(' '), sub.public_addr || '–',
        (sub.transports || []).join(', ') + (sub.tls_port ? ` (TLS on ${sub.tls_port})` : '')],
      { sub: sub.name });
    }
    addSample(rel);
  }

  function addSample(rel) {
    const now = performance.now();
    const cur = { t: now, toPeer: rel.to_peer_bytes || 0, toClient: rel.to_client_bytes || 0 };
    if (last && now > last.t && cur.toPeer >= last.toPeer && cur.toClient >= last.toClient) {
      const dt = (now - last.t) / 1000;
      samples.push({ t: Date.now(), toPeer: ((cur.toPeer - last.toPeer) * 8) / dt,
        toClient: ((cur.toClient - last.toClient) * 8) / dt });
      while (samples.length && samples[0].t < Date.now() - WINDOW_MS) samples.shift();
      const s = samples[samples.length - 1];
      set('rate.to_peer', rate(s.toPeer));
      set('rate.to_client', rate(s.toClient));
    }
    last = cur;
    drawChart();
  }

  function drawChart() {
    const c = $('chart');
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    c.width = Math.max(1, Math.round(w * dpr));
    c.height = Math.max(1, Math.round(h * dpr));
    const g = c.getContext('2d');
    g.scale(dpr, dpr);
    const css = getComputedStyle(document.documentElement);
    const color = (v) => css.getPropertyValue(v).trim();
    const max = Math.max(1000, ...samples.map((s) => Math.max(s.toPeer, s.toClient)));
    c.dataset.points = String(samples.length);
    c.dataset.maxBps = String(Math.round(Math.max(0, ...samples.map((s) => s.toPeer))));
    const left = 78;
    const bottom = h - 18;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = color('--muted');
    g.strokeStyle = color('--line');
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = 6 + ((bottom - 6) * i) / 4;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(w, y);
      g.stroke();
      g.fillText(rate((max * (4 - i)) / 4), 2, y + 4);
    }
    // The chart spans the history it has, from one minute up to fifteen.
    const now = Date.now();
    const span = Math.min(WINDOW_MS, Math.max(60000, samples.length ? now - samples[0].t : 0));
    for (let i = 0; i <= 3; i++) {
      const ago = (span * (3 - i)) / 3 / 1000;
      const label = i === 3 ? 'now' : ago >= 120 ? `-${Math.round(ago / 60)} min` : `-${Math.round(ago)} s`;
      g.fillText(label, left + ((w - left - 24) * i) / 3, h - 4);
    }
    const xOf = (t) => left + ((w - left) * (t - (now - span))) / span;
    const yOf = (v) => bottom - ((bottom - 6) * v) / max;
    for (const [key, name] of [['toPeer', '--peer'], ['toClient', '--client']]) {
      g.strokeStyle = color(name);
      g.lineWidth = 2;
      g.beginPath();
      samples.forEach((s, i) => (i ? g.lineTo : g.moveTo).call(g, xOf(s.t), yOf(s[key])));
      g.stroke();
    }
  }

  function renderAllocations(a) {
    const by = { udp: 0, tcp: 0, tls: 0 };
    const users = new Map();
    for (const x of a.allocations) {
      by[x.transport] = (by[x.transport] || 0) + 1;
      const u = users.get(x.user) || { n: 0, bytes: 0 };
      u.n += 1;
      u.bytes += x.to_peer.bytes + x.to_client.bytes;
      users.set(x.user, u);
    }
    for (const t of ['udp', 'tcp', 'tls']) set(`alloc.${t}`, int(by[t]));
    $('alloc-note').textContent = a.truncated
      ? `Counted from the first ${int(a.allocations.length)} of ${int(a.total)} listed.` : '';
    const top = [...users].sort((x, y) => y[1].n - x[1].n || y[1].bytes - x[1].bytes);
    const tb = $('topusers');
    tb.replaceChildren();
    for (const [user, u] of top.slice(0, 10)) {
      row(tb, [user || '(anonymous)', { text: int(u.n), cls: 'num' },
        { text: int(u.bytes), cls: 'num' }], { user });
    }
    $('users-note').textContent = top.length > 10 ? `${top.length - 10} more users.` : '';
  }

  async function pollCluster() {
    if (clusterAbsent) return;
    const c = await api('/admin/v1/cluster');
    if (c === null || c.enabled === false) {
      // No cluster route, or no cluster section (restart-only): stay hidden.
      clusterAbsent = true;
      return;
    }
    set('cluster.redis', c.redis_up ? 'up' : 'down');
    set('cluster.node_id', c.node_id);
    const tb = $('cluster-nodes');
    tb.replaceChildren();
    for (const n of c.nodes || []) {
      row(tb, [n.id + (n.self ? ' (this node)' : ''), n.state,
        { text: `${int(n.allocations)} / ${int(n.max_allocations)}`, cls: 'num' },
        { text: rate(n.to_peer_bps), cls: 'num' }, { text: rate(n.to_client_bps), cls: 'num' },
        n.version], { node: n.id });
    }
    $('cluster').hidden = false;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const [s, a] = await Promise.all([api('/admin/v1/status'), api('/admin/v1/allocations')]);
      renderStatus(s);
      renderAllocations(a);
      await pollCluster();
      showError('');
      $('updated').textContent = new Date().toLocaleTimeString();
      $('updated').dataset.n = String(Number($('updated').dataset.n || 0) + 1);
    } catch (e) {
      if (e instanceof Unauthorized) {
        $('login').hidden = false;
        set('status', 'locked');
        return; // the form restarts polling
      }
      showError(`Cannot reach the admin API: ${e.message}`);
    }
    timer = setTimeout(poll, POLL_MS);
  }

  async function runSelftest() {
    const btn = $('run-selftest');
    const verdict = $('st-verdict');
    btn.disabled = true;
    verdict.hidden = false;
    verdict.className = 'badge';
    verdict.textContent = 'running';
    try {
      const r = await api('/admin/v1/selftest');
      const steps = $('st-steps').tBodies[0];
      steps.replaceChildren();
      for (const s of r.steps) {
        const res = s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAIL';
        row(steps, [s.name, s.transport || '–', { text: res, cls: s.ok ? 'ok' : 'fail' },
          { text: s.ms.toFixed(2), cls: 'num' }, { text: s.detail, cls: 'detail' }],
        { step: `${s.transport || ''}.${s.name}` });
      }
      const checks = $('st-checks').tBodies[0];
      checks.replaceChildren();
      for (const c of r.checks) {
        row(checks, [c.name, { text: c.status, cls: c.status }, { text: c.detail, cls: 'detail' }],
          { check: c.name });
      }
      $('st-steps').hidden = false;
      $('st-checks').hidden = false;
      verdict.textContent = `${r.ok ? 'passed' : 'FAILED'} in ${Math.round(r.ms)} ms`;
      verdict.className = `badge ${r.ok ? 'ok' : 'fail'}`;
    } catch (e) {
      verdict.textContent = `could not run: ${e.message}`;
      verdict.className = 'badge fail';
    } finally {
      btn.disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    loadToken();
    $('login').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = $('token').value;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('login').hidden = true;
      poll();
    });
    $('run-selftest').addEventListener('click', runSelftest);
    window.addEventListener('resize', drawChart);
    poll();
  });
})();
