// One room, every transport: ws, sse, long-poll, mqtt and Socket.IO clients of
// tickcast-server --transport all see one sequence of events.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { assertContiguous, client, freePort, rest, startServer, uniqueRoom, waitFor } from './sio.mjs';

// Each recorder keeps the events its client got, in order, in `events`.
function wsClient(server, room) {
  const rec = { name: 'ws', events: [] };
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/rooms/${room}`);
  ws.onmessage = (m) => rec.events.push(JSON.parse(String(m.data)));
  rec.close = () => ws.close();
  return rec;
}

function sseClient(server, room) {
  const rec = { name: 'sse', events: [] };
  const abort = new AbortController();
  (async () => {
    const res = await fetch(`${server.url}/sse/rooms/${room}`, { signal: abort.signal });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (data) rec.events.push(JSON.parse(data));
      }
    }
  })().catch(() => {});
  rec.close = () => abort.abort();
  return rec;
}

function longPollClient(server, room) {
  const rec = { name: 'longpoll', events: [] };
  let stopped = false;
  (async () => {
    let since;
    while (!stopped) {
      const q = since === undefined ? '' : `?since=${since}&timeout_ms=5000`;
      const body = await (await fetch(`${server.url}/poll/rooms/${room}${q}`)).json();
      rec.events.push(...body.events);
      since = body.next;
    }
  })().catch(() => {});
  rec.close = () => { stopped = true; };
  return rec;
}

function mqttClient(port, room) {
  const rec = { name: 'mqtt', events: [], subscribed: false };
  // stdbuf: mosquitto_sub's output is block-buffered on a pipe, and its SUBACK line is our signal.
  const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(port), '-t', `tickcast/rooms/${room}/events`]);
  let buffer = '';
  sub.stdout.on('data', (d) => {
    buffer += d;
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (/SUBACK/.test(line)) rec.subscribed = true;
      if (line.startsWith('{')) rec.events.push(JSON.parse(line));
    }
  });
  rec.close = () => sub.kill();
  return rec;
}

function socketIoClient(server, room, transports) {
  const socket = client(`${server.url}/${room}`, { transports });
  return { name: `socketio-${transports[0]}`, get events() { return socket.timers; }, close: () => socket.close(), socket };
}

test('ws, sse, long-poll, mqtt and socketio clients of one room see one sequence', async (t) => {
  const mqttPort = await freePort();
  const server = await startServer(['--transport', 'all', '--mqtt-port', String(mqttPort), '--tick-ms', '100']);
  t.after(() => server.stop());
  const room = uniqueRoom('mixed');
  const clients = [
    wsClient(server, room),
    sseClient(server, room),
    longPollClient(server, room),
    mqttClient(mqttPort, room),
    socketIoClient(server, room, ['websocket']),
    socketIoClient(server, room, ['polling']),
  ];
  t.after(() => clients.forEach((c) => c.close()));
  const mqtt = clients[3];
  const counts = () => clients.map((c) => `${c.name}: ${c.events.length}`).join(', ');
  await waitFor(() => clients.every((c) => c.events.length > 0 || (c === mqtt && c.subscribed)),
    { what: 'every client to join', timeoutMs: 20_000 }).catch((e) => { throw new Error(`${e.message} (${counts()}; mqtt subscribed ${mqtt.subscribed})`); });

  // The port's own pages know the transport.
  const config = await (await fetch(`${server.url}/api/config`)).json();
  assert.ok(config.transports.includes('socketio'));
  assert.equal(config.urls.socketio, `${server.url}/socket.io/`);
  const health = await (await fetch(`${server.url}/healthz`)).json();
  assert.deepEqual(health.transports.socketio, { accepting: true, clients: 2 });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^tickcast_clients\{transport="socketio"\} 2$/m);

  const start = await rest(server, room, { type: 'start' });
  assert.equal(start.status, 200);
  await waitFor(() => clients.every((c) => c.events.filter((e) => e.reason === 'tick').length >= 8),
    { what: 'eight ticks on every client', timeoutMs: 20_000 });
  assert.equal((await rest(server, room, { type: 'stop' })).status, 200);
  await waitFor(() => clients.every((c) => c.events.some((e) => e.reason === 'stop')), { what: 'the stop everywhere' });

  const window = (c) => {
    const from = c.events.findIndex((e) => e.reason === 'start');
    const to = c.events.findIndex((e) => e.reason === 'stop');
    return c.events.slice(from, to + 1).map(({ seq, reason, data, room: r, state }) => ({ seq, reason, data, room: r, state }));
  };
  const reference = window(clients[0]);
  assert.ok(reference.length >= 10);
  assertContiguous(reference, 'ws');
  for (const c of clients.slice(1)) {
    assert.deepEqual(window(c), reference, `${c.name} saw the same sequence as ws`);
  }
  for (const c of clients) assert.ok(c.events.every((e) => e.success && e.room === room), `${c.name}: only its room, no errors`);
});
