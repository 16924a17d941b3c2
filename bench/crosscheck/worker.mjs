// One cross-check worker process: opens its share of the clients with the npm clients
// (ws, eventsource) or, for sse with sseClient 'raw', plain node:net sockets reading the
// event stream, records each tick's latency (receipt time minus the event's
// server_time_us, both from this machine's system clock) and checks seq for gaps, then
// reports to the parent over IPC. Started by crosscheck.mjs.
import { EventSource } from 'eventsource';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';

const { transport, base, room, clients, inFlight, sseClient } = JSON.parse(process.argv[2]);
let windowFrom = Infinity;
let windowTo = Infinity;
let cpuAtWindow = null;  // this process's CPU use when the window opened
const samples = [];  // latency in µs of ticks produced inside the window
let lost = 0;
let duplicated = 0;
let opened = 0;
let failed = 0;
const conns = [];

// The CPUs this process may run on, as /proc lists them ("0-1", "1").
const allowedCpus = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)[1];
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

function onEvent(state, text) {
  const at = nowUs();
  let event;
  try {
    event = JSON.parse(text);
  } catch {
    return;
  }
  if (event.seq === undefined) return;
  if (state.last !== undefined) {
    if (event.seq > state.last + 1 && event.reason !== 'snapshot') lost += event.seq - state.last - 1;
    if (event.seq <= state.last) duplicated += 1;
  }
  if (state.last === undefined || event.seq > state.last) state.last = event.seq;
  if (!state.ready) {
    state.ready = true;
    opened += 1;
  }
  const produced = event.server_time_us;
  if (event.reason === 'tick' && produced >= windowFrom && produced < windowTo) samples.push(at - produced);
}

function open(i) {
  const state = {};
  return new Promise((resolve) => {
    if (transport === 'ws') {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/rooms/${room}`, { perMessageDeflate: false });
      ws.on('message', (data) => {
        onEvent(state, data.toString());
        resolve();
      });
      ws.on('error', () => {
        failed += 1;
        resolve();
      });
      conns.push(ws);
    } else if (sseClient === 'raw') {
      openRawSse(state, resolve);
    } else {
      const es = new EventSource(`${base}/sse/rooms/${room}`);
      es.addEventListener('timer', (m) => {
        onEvent(state, m.data);
        resolve();
      });
      es.onerror = () => {
        if (!state.ready) {
          failed += 1;
          es.close();
          resolve();
        }
      };
      conns.push(es);
    }
  });
}

// openRawSse reads the stream as the first measurement did: one GET on a socket,
// the response head skipped, each event's `data:` line parsed (the server sends no chunked
// encoding on its SSE streams: `connection: close`).
function openRawSse(state, resolve) {
  const url = new URL(`${base}/sse/rooms/${room}`);
  const socket = net.connect(Number(url.port), url.hostname, () => {
    socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
  });
  socket.setEncoding('utf8');
  let buffer = '';
  let body = false;
  socket.on('data', (chunk) => {
    buffer += chunk;
    if (!body) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!buffer.startsWith('HTTP/1.1 200')) {
        failed += 1;
        socket.destroy();
        return resolve();
      }
      body = true;
      buffer = buffer.slice(end + 4);
    }
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.startsWith('data: ') ? 0 : event.indexOf('\ndata: ') + 1;
      if (data > 0 || event.startsWith('data: ')) {
        onEvent(state, event.slice(data + 6));
        resolve();
      }
    }
  });
  socket.on('error', () => {
    if (!state.ready) failed += 1;
    resolve();
  });
  conns.push({ close: () => socket.destroy() });
}

async function connectAll() {
  let next = 0;
  const lanes = Array.from({ length: Math.min(inFlight, clients) }, async () => {
    while (next < clients) await open(next++);
  });
  await Promise.all(lanes);
  process.send({ type: 'connected', opened, failed, cpus: allowedCpus('self') });
}

process.on('message', (m) => {
  if (m.type === 'window') {
    windowFrom = m.from;
    windowTo = m.to;
    cpuAtWindow = process.cpuUsage();
  } else if (m.type === 'report') {
    // CPU seconds of this client process since the window opened: a client stack that
    // cannot keep up shows here, not in the server.
    const cpu = process.cpuUsage(cpuAtWindow ?? undefined);
    process.send({ type: 'report', samples, lost, duplicated, opened, failed,
      cpu_s: (cpu.user + cpu.system) / 1e6 });
  } else if (m.type === 'close') {
    for (const c of conns) {
      try {
        c.close();
      } catch {}
    }
    setTimeout(() => process.exit(0), 200);
  }
});

connectAll();
