// tickcast web client: the shared Pomodoro timer over WebSocket, Server-Sent Events,
// long-polling or Socket.IO, with automatic fallback ws -> sse -> longpoll (as Socket.IO and
// SignalR do). Plain browser JavaScript, no build step; served by tickcast-server. The only
// dependency, the socket.io-client browser bundle, is loaded from the server
// (/socket.io/socket.io.min.js) when ?transport=socketio asks for it.
//
// Flow: read GET /api/config (which transports are enabled) -> pick the requested
// transport, or the next enabled one -> connect -> render every timer event whose seq
// is new (snapshots always) -> on a drop, reconnect with exponential back-off and jitter.
// A transport that never opens while the server itself answers is given up after two
// tries and the next one in the order is used.
(() => {
  'use strict';

  const TRANSPORTS = ['ws', 'sse', 'longpoll', 'socketio'];
  const TRANSPORT_NAMES = {
    ws: 'WebSocket', sse: 'Server-Sent Events', longpoll: 'long-polling', socketio: 'Socket.IO',
  };
  const SOCKETIO_CLIENT = '/socket.io/socket.io.min.js';
  const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const DEFAULT_ROOM = 'focus';
  const DEFAULT_TRANSPORT = 'ws';
  const PHASES = { work: 'Work', short_break: 'Short break', long_break: 'Long break' };
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const FAILS_BEFORE_FALLBACK = 2; // a transport that fails this often before opening is skipped
  const POLL_TIMEOUT_MS = 25000; // server holds a long-poll this long at most
  const POLL_GRACE_MS = 10000; // client gives up on a held request this much later
  const ERROR_HIDE_MS = 10000;
  const THEME_KEY = 'tickcast-theme';

  const $ = (id) => document.getElementById(id);
  const ui = {
    roomForm: $('room-form'), room: $('room'), phase: $('phase'), running: $('running'),
    countdown: $('countdown'), progress: $('progress'), completed: $('completed'),
    status: $('status'), retry: $('retry'), transport: $('transport'),
    transportSelect: $('transport-select'), version: $('version'), announce: $('announce'),
    error: $('error'), errorText: $('error-text'), errorCode: $('error-code'),
    errorDismiss: $('error-dismiss'), theme: $('theme'),
  };

  // ---- State ---------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  let requested = TRANSPORTS.includes(params.get('transport')) ? params.get('transport') : DEFAULT_TRANSPORT;
  let room = ROOM_RE.test(params.get('room') || '') ? params.get('room') : DEFAULT_ROOM;
  // A room token (?token=), for servers that require one: sent as ?token= where the
  // browser cannot set headers (WebSocket, EventSource) and as a Bearer header elsewhere.
  const token = params.get('token') || '';
  const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
  const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});

  let enabled = TRANSPORTS.slice(); // from /api/config; all of them until it answers
  let candidates = []; // transports to try, in order, requested first
  let candIdx = 0;
  let conn = null; // the live connection: { close(), send(cmd) -> bool | undefined }
  let connected = false;
  let generation = 0; // bumped on every (re)connect; callbacks of older connections are ignored
  let attempt = 0; // consecutive failed attempts, for the back-off
  let failsHere = 0; // consecutive failures of the current transport before it opened
  let workedHere = false; // the current transport has opened at least once
  let lastSeq = -1;
  let pollSince = null; // long-poll resume cursor for this room
  let retryTimer = 0, retryTick = 0, errorTimer = 0;
  let requestCounter = 0;
  let last = null; // last rendered event

  if (params.get('room') && !ROOM_RE.test(params.get('room'))) {
    showError(`"${params.get('room')}" is not a valid room name; using "${room}".`, 'bad_room');
  }

  // ---- Rendering -----------------------------------------------------------------
  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
    document.body.dataset.conn = state;
    ui.retry.hidden = state !== 'reconnecting' && state !== 'offline';
  }

  function transportLabel() {
    const t = candidates[candIdx];
    return t === requested ? t : `${t} (fallback from ${requested})`;
  }

  function showTransport() {
    const t = candidates[candIdx] || '—';
    ui.transport.textContent = t;
    ui.transport.dataset.transport = t;
    ui.transport.dataset.fallback = String(t !== requested);
    ui.transport.title = TRANSPORT_NAMES[t] || '';
  }

  function showError(message, code) {
    ui.errorText.textContent = message;
    ui.errorCode.textContent = code || '';
    ui.errorCode.hidden = !code;
    ui.error.dataset.code = code || '';
    ui.error.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(clearError, ERROR_HIDE_MS);
  }

  function clearError() {
    clearTimeout(errorTimer);
    ui.error.hidden = true;
    ui.error.dataset.code = '';
  }

  function announce(text) {
    ui.announce.textContent = text;
  }

  function render(ev) {
    const s = ev.state || {};
    const phase = PHASES[s.phase] || s.phase || '—';
    const prev = last;
    last = ev;
    ui.countdown.textContent = ev.data;
    ui.phase.textContent = phase;
    ui.running.textContent = s.running ? 'running' : 'paused';
    ui.completed.textContent = String(s.completed_work ?? 0);
    document.body.dataset.phase = s.phase || 'work';
    document.body.dataset.running = String(!!s.running);
    const pct = s.duration_ms > 0 ? Math.round(100 * (1 - s.remaining_ms / s.duration_ms)) : 0;
    const clamped = Math.min(100, Math.max(0, pct));
    ui.progress.setAttribute('aria-valuenow', String(clamped));
    ui.progress.style.setProperty('--progress', `${clamped}%`);
    document.title = `${ev.data} · ${phase} · tickcast`;

    const verbs = { start: 'started', stop: 'stopped', reset: 'reset', skip: 'skipped to', phase: 'now' };
    if (ev.reason === 'skip' || ev.reason === 'phase') announce(`${phase}, ${ev.data} left.`);
    else if (verbs[ev.reason]) announce(`Timer ${verbs[ev.reason]}. ${phase}, ${ev.data} left.`);
    else if (ev.reason === 'snapshot' && !prev) announce(`${phase}, ${ev.data} left, ${s.running ? 'running' : 'paused'}.`);
  }

  function clearTimerView() {
    last = null;
    ui.countdown.textContent = '--:--:--';
    ui.phase.textContent = '—';
    ui.running.textContent = 'waiting';
    ui.completed.textContent = '0';
    ui.progress.setAttribute('aria-valuenow', '0');
    ui.progress.style.setProperty('--progress', '0%');
    document.title = 'tickcast · Pomodoro';
  }

  // One event from any transport.
  function handleEvent(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.success === false) {
      showError(ev.error || 'The server refused the request.', ev.code);
      return;
    }
    if (ev.room && ev.room !== room) return;
    if (typeof ev.data !== 'string') return; // an acknowledgement without timer data
    const snapshot = ev.reason === 'snapshot';
    if (typeof ev.seq === 'number') {
      // Snapshots always apply (they also re-base seq, e.g. after a server restart).
      if (!snapshot && ev.seq <= lastSeq) return;
      lastSeq = ev.seq;
    }
    render(ev);
  }

  // ---- Transports ----------------------------------------------------------------
  // Each opener returns { close(), send?(cmd) } and reports through h:
  //   h.open()                 the transport delivers events now
  //   h.event(obj)             one parsed event
  //   h.reconnecting()         the browser itself is reconnecting (SSE)
  //   h.fail({opened, message, code, status})   it is gone; the manager decides what next
  const roomPath = (r) => encodeURIComponent(r);

  function openWs(r, h) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(withToken(`${scheme}//${location.host}/rooms/${roomPath(r)}`));
    } catch (e) {
      setTimeout(() => h.fail({ opened: false, message: String(e.message || e) }), 0);
      return { close() {} };
    }
    let opened = false;
    let closed = false;
    ws.onopen = () => { opened = true; h.open(); };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      h.event(ev);
    };
    // 'error' is always followed by 'close', which carries the code: handle it there.
    ws.onclose = (e) => {
      if (closed) return;
      closed = true;
      const normal = e.code === 1000 || e.code === 1001 || e.code === 1005 || e.code === 1006 || e.code === 4401;
      const message = !normal ? `Connection closed by the server: ${e.reason || 'no reason given'} (${e.code})` : '';
      h.fail({ opened, message, code: normal ? '' : `ws_${e.code}` });
    };
    return {
      close() {
        closed = true;
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(1000); } catch { /* already closed */ }
      },
      send(cmd) {
        if (ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(cmd));
        return true;
      },
    };
  }

  function openSse(r, h) {
    // Our own reconnects resume from the last event seen: ?last_event_id= works where the
    // Last-Event-ID header is not seen (HTTP/2 on lws 4.1); the browser's own retry also
    // sends the header, which the server prefers. Repeats are dropped by seq.
    const resume = lastSeq >= 0 ? `?last_event_id=${lastSeq}` : '';
    const es = new EventSource(withToken(`/sse/rooms/${roomPath(r)}${resume}`));
    let opened = false;
    let droppedOnce = false;
    let closed = false;
    es.onopen = () => { opened = true; droppedOnce = false; h.open(); };
    const onMessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      h.event(ev);
    };
    es.addEventListener('timer', onMessage);
    es.onmessage = onMessage; // events sent without an `event:` line
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CONNECTING && opened && !droppedOnce) {
        // A working stream dropped: let the browser reconnect once by itself, because
        // only its own reconnect resends Last-Event-ID (so no event is missed).
        droppedOnce = true;
        h.reconnecting();
        return;
      }
      // Refused (HTTP error / wrong type) or dropped again: take over with our back-off.
      closed = true;
      es.close();
      h.fail({ opened, message: '' });
    };
    return { close() { closed = true; es.close(); } };
  }

  function openLongPoll(r, h) {
    const base = `/poll/rooms/${roomPath(r)}`;
    let stopped = false;
    let opened = false;
    let request = null;
    (async () => {
      while (!stopped) {
        // Resuming (a cursor from an earlier connection): ask with timeout_ms=0 first, so
        // the missed events, or none, come back at once and the page knows it is connected.
        const wait = opened ? POLL_TIMEOUT_MS : 0;
        const url = pollSince === null ? base : `${base}?since=${pollSince}&timeout_ms=${wait}`;
        request = new AbortController();
        const timer = setTimeout(() => request.abort(), POLL_TIMEOUT_MS + POLL_GRACE_MS);
        let res;
        let body = null;
        try {
          res = await fetch(url, { signal: request.signal, cache: 'no-store', headers: { Accept: 'application/json', ...authHeaders() } });
          body = await res.json().catch(() => null);
        } catch {
          if (!stopped) h.fail({ opened, message: '' });
          return;
        } finally {
          clearTimeout(timer);
        }
        if (stopped) return;
        if (!res.ok) {
          if (res.status === 400 && pollSince !== null) {
            pollSince = null; // our cursor is unknown to the room (server restarted?): start from a snapshot
            continue;
          }
          h.fail({ opened, status: res.status, message: body && body.error ? body.error : '', code: body && body.code });
          return;
        }
        if (!opened) { opened = true; h.open(); }
        const events = body && Array.isArray(body.events) ? body.events : [];
        for (const ev of events) {
          if (stopped) return;
          h.event(ev);
        }
        if (body && typeof body.next === 'number') pollSince = body.next;
        else if (events.length && typeof events[events.length - 1].seq === 'number') pollSince = events[events.length - 1].seq;
      }
    })();
    return { close() { stopped = true; if (request) request.abort(); } };
  }

  // The socket.io-client bundle, loaded once, on first use.
  let socketIoLoading = null;
  function loadSocketIo() {
    if (window.io) return Promise.resolve(window.io);
    if (!socketIoLoading) {
      socketIoLoading = new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = SOCKETIO_CLIENT;
        script.onload = () => (window.io ? resolve(window.io) : reject(new Error('the Socket.IO client did not load')));
        script.onerror = () => {
          socketIoLoading = null;
          script.remove();
          reject(new Error('could not load the Socket.IO client'));
        };
        document.head.appendChild(script);
      });
    }
    return socketIoLoading;
  }

  // Socket.IO: the namespace /{room} is the room. socket.io-client reconnects by itself
  // (and recovers the missed events); this page takes over only when it never connected.
  function openSocketIo(r, h) {
    let socket = null;
    let opened = false;
    let closed = false;
    const giveUp = (info) => {
      if (closed) return;
      closed = true;
      if (socket) socket.close();
      h.fail({ opened, ...info });
    };
    loadSocketIo().then((io) => {
      if (closed) return;
      socket = io(`/${roomPath(r)}`, { reconnectionDelay: BACKOFF_BASE_MS, reconnectionDelayMax: BACKOFF_MAX_MS });
      socket.on('connect', () => { opened = true; h.open(); });
      socket.on('timer', (ev) => h.event(ev));
      socket.on('connect_error', (e) => {
        // A refusal from the server (a bad room) is final; a network error before the
        // first connection goes back to this page's manager, which may fall back.
        if (e && e.data && e.data.code) giveUp({ message: e.message, code: e.data.code });
        else if (!opened) giveUp({ message: '' });
      });
      socket.on('disconnect', (reason) => {
        if (closed) return;
        if (reason === 'io server disconnect') giveUp({ message: '' });
        else h.reconnecting();
      });
    }, (e) => giveUp({ message: e.message, code: 'socketio_client' }));
    return {
      close() {
        closed = true;
        if (socket) socket.close();
      },
      send(cmd) {
        if (!socket || !socket.connected) return false;
        socket.emit(cmd.type, cmd); // errors come back as `timer` events with success:false
        return true;
      },
    };
  }

  const OPENERS = { ws: openWs, sse: openSse, longpoll: openLongPoll, socketio: openSocketIo };

  // ---- Connection manager --------------------------------------------------------
  function orderFrom(first) {
    const i = TRANSPORTS.indexOf(first);
    const order = TRANSPORTS.slice(i).concat(TRANSPORTS.slice(0, i));
    return order.filter((t) => enabled.includes(t));
  }

  function clearRetry() {
    clearTimeout(retryTimer);
    clearInterval(retryTick);
    retryTimer = retryTick = 0;
  }

  function disconnect() {
    clearRetry();
    generation++;
    connected = false;
    if (conn) conn.close();
    conn = null;
  }

  function connect() {
    disconnect();
    const gen = generation;
    const name = candidates[candIdx];
    showTransport();
    setStatus('connecting', `connecting via ${transportLabel()}…`);
    const live = () => gen === generation;
    conn = OPENERS[name](room, {
      open() {
        if (!live()) return;
        connected = true;
        attempt = 0;
        failsHere = 0;
        workedHere = true;
        setStatus('connected', `connected via ${transportLabel()}`);
      },
      event(ev) { if (live()) handleEvent(ev); },
      reconnecting() {
        if (!live()) return;
        connected = false;
        setStatus('reconnecting', `reconnecting via ${transportLabel()}…`);
      },
      fail(info) {
        if (!live()) return;
        connected = false;
        conn = null;
        onFail(info);
      },
    });
  }

  async function serverAnswers() {
    try {
      const res = await fetch('/api/config', { cache: 'no-store' });
      if (res.ok) {
        applyConfig(await res.json());
        return true;
      }
      return res.status < 500;
    } catch {
      return false;
    }
  }

  // When the server requires tokens, a refused join looks like any failed connection to
  // WebSocket and EventSource (no status): ask REST, which says 401/403 plainly.
  async function accessRefusal() {
    try {
      const res = await fetch(`/api/rooms/${roomPath(room)}`, { cache: 'no-store', headers: authHeaders() });
      if (res.status !== 401 && res.status !== 403) return null;
      const body = await res.json().catch(() => null);
      return (body && body.error) || `HTTP ${res.status}`;
    } catch {
      return null;
    }
  }

  function showDenied(reason) {
    clearRetry();
    setStatus('denied', `not allowed: ${reason}`);
    showError(`Not allowed in room "${room}": ${reason}. ${token ? 'Ask for a new token' : 'This server needs a room token (?token=... in the address)'}.`, 'unauthorized');
  }

  async function onFail(info) {
    if (info.message) showError(info.message, info.code);
    const gen = generation;
    const refusal = await accessRefusal();
    if (gen !== generation) return;
    if (refusal) {
      showDenied(refusal);
      return;
    }
    if (!info.opened) {
      // Did the transport fail, or is the whole server away? Only the first counts
      // towards falling back; a server that is down is simply waited for.
      const up = await serverAnswers();
      if (gen !== generation) return; // the user switched room/transport meanwhile
      if (up) {
        failsHere++;
        const current = candidates[candIdx];
        candidates = orderFrom(requested); // /api/config may have changed what is enabled
        const idx = candidates.indexOf(current);
        if (!candidates.length) {
          showError('This server enables none of the browser transports (ws, sse, longpoll, socketio).', 'no_transport');
          setStatus('offline', 'offline: no browser transport enabled');
          return;
        }
        if (idx < 0 || (!workedHere && failsHere >= FAILS_BEFORE_FALLBACK)) {
          candIdx = idx + 1; // idx < 0 (no longer enabled): the first one of the order
          failsHere = 0;
          workedHere = false;
          if (candIdx < candidates.length) {
            connect(); // fall back at once
            return;
          }
          candIdx = 0; // nothing left: start over from the requested one, after a pause
        } else {
          candIdx = idx;
        }
      }
    }
    scheduleRetry();
  }

  function backoffDelay(n) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** n);
    return Math.round(cap / 2 + Math.random() * (cap / 2)); // "equal jitter": never ~0, never in lockstep
  }

  function scheduleRetry() {
    clearRetry();
    if (navigator.onLine === false) {
      setStatus('offline', 'offline: waiting for the network');
      return;
    }
    const delay = backoffDelay(attempt++);
    const due = Date.now() + delay;
    const gen = generation;
    const tick = () => {
      const s = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      setStatus('reconnecting', `reconnecting in ${s}s`);
    };
    tick();
    retryTick = setInterval(tick, 250);
    retryTimer = setTimeout(() => { if (gen === generation) connect(); }, delay);
  }

  // In a cluster (/api/config names this node): every node the cluster has seen, from
  // /api/cluster every 2 s, each a link to the same room on that node; which one runs the
  // timers, which are down, and which one this page is on.
  let clusterTimer = null;
  async function showCluster() {
    const list = document.getElementById('cluster');
    let c = null;
    try {
      const res = await fetch('/api/cluster?rooms=0', { cache: 'no-store' });
      if (res.ok) c = await res.json();
    } catch {
      c = null;
    }
    if (!list || !c || !Array.isArray(c.nodes)) return;
    const items = [...c.nodes].sort((a, b) => String(a.id).localeCompare(String(b.id))).map((n) => {
      const item = document.createElement(/^https?:\/\//.test(n.url ?? '') ? 'a' : 'span');
      if (item.tagName === 'A') item.href = new URL(location.search, n.url).href;
      const role = n.alive ? (n.role === 'writer' ? 'runs the timers' : 'follows') : 'down';
      item.textContent = `${n.id} (${role})`;
      item.dataset.node = String(n.id);
      item.dataset.role = n.alive ? String(n.role) : 'down';
      if (n.id === c.node) item.setAttribute('aria-current', 'true');
      return item;
    });
    list.replaceChildren(document.createTextNode('nodes: '), ...items.flatMap((e, i) => (i ? [document.createTextNode(' · '), e] : [e])));
    list.hidden = false;
  }

  function applyConfig(cfg) {
    if (!cfg || typeof cfg !== 'object') return;
    if (Array.isArray(cfg.transports)) enabled = TRANSPORTS.filter((t) => cfg.transports.includes(t));
    if (cfg.version) ui.version.textContent = `v${cfg.version}`;
    const node = document.getElementById('node');
    if (node) node.textContent = cfg.node ? `node ${cfg.node}` : '';
    if (cfg.node && !clusterTimer) {
      showCluster();
      clusterTimer = setInterval(showCluster, 2000);
    }
    for (const opt of ui.transportSelect.options) {
      opt.disabled = !enabled.includes(opt.value);
      opt.textContent = TRANSPORT_NAMES[opt.value] + (opt.disabled ? ' (off)' : '');
    }
  }

  // Reads /api/config (retrying with back-off while the server is away), then connects.
  async function boot() {
    clearRetry();
    setStatus('connecting', 'connecting…');
    let res = null;
    try {
      res = await fetch('/api/config', { cache: 'no-store' });
    } catch {
      res = null;
    }
    if (!res || res.status >= 500) {
      const delay = backoffDelay(attempt++);
      const due = Date.now() + delay;
      const tick = () => setStatus('reconnecting', `server unreachable, retrying in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))}s`);
      tick();
      retryTick = setInterval(tick, 250);
      retryTimer = setTimeout(boot, delay);
      return;
    }
    if (res.ok) applyConfig(await res.json().catch(() => null));
    // Without /api/config (404) every transport is tried, and failures decide.
    candidates = orderFrom(requested);
    candIdx = 0;
    if (!candidates.length) {
      showError('This server enables none of the browser transports (ws, sse, longpoll, socketio).', 'no_transport');
      setStatus('offline', 'offline: no browser transport enabled');
      return;
    }
    connect();
  }

  function restart() {
    failsHere = 0;
    workedHere = false;
    attempt = 0;
    candidates = orderFrom(requested);
    candIdx = 0;
    if (!candidates.length) { boot(); return; }
    connect();
  }

  function updateUrl() {
    const q = new URLSearchParams(location.search);
    q.set('room', room);
    q.set('transport', requested);
    history.replaceState(null, '', `${location.pathname}?${q}`);
  }

  // ---- Commands ------------------------------------------------------------------
  // Over the WebSocket or Socket.IO when it is open (that is their point); otherwise REST.
  async function sendCommand(type) {
    const cmd = { type, request_id: `${type}-${++requestCounter}` };
    clearError();
    if (connected && conn && conn.send && conn.send(cmd)) return;
    try {
      const res = await fetch(`/api/rooms/${roomPath(room)}/commands`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders() },
        body: JSON.stringify(cmd),
      });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        showError(body && body.error ? body.error : `"${type}" failed: HTTP ${res.status}`, body && body.code);
      }
    } catch {
      showError(`Could not send "${type}": the server is unreachable.`, 'network');
    }
  }

  // ---- Theme ---------------------------------------------------------------------
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    const dark = theme === 'dark';
    ui.theme.setAttribute('aria-pressed', String(dark));
    ui.theme.querySelector('.theme-label').textContent = dark ? 'Light theme' : 'Dark theme';
    ui.theme.title = dark ? 'Switch to the light theme' : 'Switch to the dark theme';
  }

  function savedTheme() {
    try { return localStorage.getItem(THEME_KEY); } catch { return null; }
  }

  // ---- Wiring --------------------------------------------------------------------
  for (const type of ['start', 'stop', 'reset', 'skip']) {
    $(type).addEventListener('click', () => sendCommand(type));
  }

  ui.room.value = room;
  ui.roomForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = ui.room.value.trim();
    if (!ROOM_RE.test(next)) {
      ui.room.setAttribute('aria-invalid', 'true');
      showError('A room name is 1 to 64 letters, digits, "-" or "_".', 'bad_room');
      return;
    }
    ui.room.removeAttribute('aria-invalid');
    if (next === room) return;
    clearError();
    room = next;
    lastSeq = -1;
    pollSince = null;
    clearTimerView();
    updateUrl();
    restart();
  });
  ui.room.addEventListener('change', () => ui.roomForm.requestSubmit());

  ui.transportSelect.value = requested;
  ui.transportSelect.addEventListener('change', () => {
    requested = ui.transportSelect.value;
    updateUrl();
    restart();
  });

  ui.retry.addEventListener('click', () => {
    attempt = 0;
    if (candidates.length) connect(); else boot();
  });
  ui.errorDismiss.addEventListener('click', clearError);

  applyTheme(document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light');
  ui.theme.addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    try { localStorage.setItem(THEME_KEY, next); } catch { /* not remembered */ }
    applyTheme(next);
  });
  if (window.matchMedia) {
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (m) => {
      if (!savedTheme()) applyTheme(m.matches ? 'dark' : 'light');
    });
  }

  window.addEventListener('offline', () => { if (!connected) setStatus('offline', 'offline: waiting for the network'); });
  window.addEventListener('online', () => {
    if (connected) return;
    attempt = 0;
    if (candidates.length) connect(); else boot();
  });
  window.addEventListener('pagehide', () => disconnect());
  window.addEventListener('pageshow', (e) => { if (e.persisted) restart(); });

  // Exposed for tests and curious users: read-only view of the connection.
  window.tickcast = Object.freeze({
    get transport() { return candidates[candIdx] || null; },
    get requested() { return requested; },
    get connected() { return connected; },
    get room() { return room; },
    get lastSeq() { return lastSeq; },
  });

  boot();
})();
