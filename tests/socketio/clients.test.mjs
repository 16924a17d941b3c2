// The real npm socket.io-client 4.x against tickcast-server --transport socketio: the demo's
// code as written, each transport choice, rooms, acks, pings and connection state recovery.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertContiguous, client, closeAll, errors, events, handshake, engineRequest, io, rest, roomSeq,
  startServer, uniqueRoom, waitFor,
} from './sio.mjs';

const HMS = /^\d{2}:\d{2}:\d{2}$/;

test("the demo's client code, as written, over default options (polling, then the upgrade)", async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '100']);
  t.after(() => server.stop());
  const WS_URL = server.url;

  // --- the demo, verbatim (React state setters replaced by recorders) ---
  const shown = [];
  const alerts = [];
  const setTime = (time) => shown.push(time);
  const showAlert = (error) => alerts.push(error);
  const socket = io(WS_URL); // socket.io-client 4, default options
  socket.on('timer', (data) => { if (data.success) setTime(data.data); else showAlert(data.error); });
  socket.emit('start', 'please start the timer');
  // ---
  t.after(() => socket.close());
  const bystander = client(WS_URL, { transports: ['polling'] });
  t.after(() => bystander.close());

  await waitFor(() => socket.io.engine?.transport.name === 'websocket', { what: 'the upgrade to websocket' });
  await waitFor(() => new Set(shown).size >= 3, { what: 'three different HH:MM:SS values' });
  for (const time of shown) assert.match(time, HMS);
  const distinct = [...new Set(shown)];
  for (let i = 1; i < distinct.length; i++) assert.ok(distinct[i] < distinct[i - 1], `${distinct} counts down`);

  await waitFor(() => events(bystander).length > 0, { what: 'the bystander to join' });
  socket.emit('start', 'please start the timer');
  await waitFor(() => alerts.length === 1, { what: 'the second start to be refused' });
  assert.deepEqual(alerts, ['Timer already started']);

  socket.emit('stop', 'please stop the timer');
  await waitFor(() => events(bystander).some((e) => e.reason === 'stop'), { what: 'the stop to reach the room' });
  const stop = events(bystander).find((e) => e.reason === 'stop');
  assert.equal(stop.state.running, false);
  assert.match(stop.data, HMS);
  assert.equal(stop.error, null);
  assert.equal(stop.event, 'timer');
  assert.equal(stop.room, 'default', 'the namespace "/" is the room default');
  assert.deepEqual(errors(bystander), [], 'errors go to the requester only');
  assertContiguous(events(bystander), 'bystander');
});

for (const transports of [['websocket'], ['polling']]) {
  test(`transports: ${JSON.stringify(transports)}: snapshot, commands with acks, events of the namespace's room`, async (t) => {
    const server = await startServer(['--transport', 'socketio', '--tick-ms', '50']);
    t.after(() => server.stop());
    const room = uniqueRoom('sio');
    const socket = client(`${server.url}/${room}`, { transports, upgrade: false });
    t.after(() => socket.close());

    await waitFor(() => socket.connected && socket.timers.length > 0, { what: 'connect and snapshot' });
    const [snapshot] = socket.timers;
    assert.equal(snapshot.reason, 'snapshot');
    assert.equal(snapshot.room, room);
    assert.equal(snapshot.data, '00:25:00');
    assert.equal(socket.offsets[0], `${room}:${snapshot.seq}`, 'the recovery offset is the last argument');

    const started = await socket.timeout(10_000).emitWithAck('start', { request_id: 'r1' });
    assert.equal(started.success, true);
    assert.equal(started.state.running, true);
    await waitFor(() => events(socket).filter((e) => e.reason === 'tick').length >= 3, { what: 'three ticks' });
    const configured = await socket.timeout(10_000).emitWithAck('configure', { work_ms: 60_000 });
    assert.equal(configured.success, true);
    assert.equal(configured.state.duration_ms, 60_000);
    const stopped = await socket.timeout(10_000).emitWithAck('command', { type: 'stop' });
    assert.equal(stopped.success, true);
    assert.equal(stopped.state.running, false);

    const got = events(socket);
    assertContiguous(got, transports[0]);
    assert.ok(got.every((e) => e.room === room));
    assert.deepEqual(got.filter((e) => e.reason !== 'tick').map((e) => e.reason), ['snapshot', 'start', 'configure', 'stop']);
    assert.equal(socket.io.engine.transport.name, transports[0]);
  });
}

test('two clients in one room see the same countdown', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50']);
  t.after(() => server.stop());
  const room = uniqueRoom('two');
  const a = client(`${server.url}/${room}`, { transports: ['websocket'] });
  const b = client(`${server.url}/${room}`, { transports: ['polling'] });
  t.after(() => closeAll(a, b));
  await waitFor(() => a.timers.length && b.timers.length, { what: 'both snapshots' });

  a.emit('start', 'please start the timer');
  await waitFor(() => events(a).length >= 12 && events(b).length >= 12, { what: 'ten ticks each' });
  const bySeq = new Map(events(a).map((e) => [e.seq, e]));
  const common = events(b).filter((e) => bySeq.has(e.seq) && e.reason !== 'snapshot');
  assert.ok(common.length >= 10, `${common.length} events in common`);
  for (const e of common) {
    assert.equal(e.data, bySeq.get(e.seq).data, `seq ${e.seq}`);
    assert.deepEqual(e.state, bySeq.get(e.seq).state, `seq ${e.seq}`);
  }
  assertContiguous(events(a), 'a');
  assertContiguous(events(b), 'b');
});

test('acks: a refused start reaches only the requester (event and ack); join moves a socket and says where', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '100']);
  t.after(() => server.stop());
  const room = uniqueRoom('ack');
  const other = uniqueRoom('other');
  const a = client(`${server.url}/${room}`, { transports: ['websocket'] });
  const b = client(`${server.url}/${room}`);
  t.after(() => closeAll(a, b));
  await waitFor(() => a.timers.length && b.timers.length, { what: 'both snapshots' });

  assert.equal((await a.timeout(10_000).emitWithAck('start')).success, true);
  const refused = await a.timeout(10_000).emitWithAck('start', 'please start the timer');
  assert.equal(refused.success, false);
  assert.equal(refused.code, 'already_running');
  assert.equal(refused.error, 'Timer already started');
  await waitFor(() => errors(a).length === 1, { what: 'the error event' });
  assert.equal(errors(a)[0].code, 'already_running');

  const unknown = await a.timeout(10_000).emitWithAck('explode');
  assert.equal(unknown.code, 'unknown_command');
  const badConfig = await a.timeout(10_000).emitWithAck('configure', { work_ms: 5 });
  assert.equal(badConfig.code, 'bad_request');

  const beforeJoin = b.timers.length;
  const moved = await b.timeout(10_000).emitWithAck('join', other);
  assert.deepEqual(moved, { success: true, room: other });
  // The new room's snapshot comes before the ack; the old room's events may precede it.
  const joinedAt = b.timers.findIndex((e, i) => i >= beforeJoin && e.room === other);
  assert.ok(joinedAt >= beforeJoin, "the other room's snapshot arrived before the ack");
  assert.equal(b.timers[joinedAt].reason, 'snapshot');
  assert.equal((await b.timeout(10_000).emitWithAck('start')).success, true, 'commands go to the new room');
  const firstSeq = a.timers[0].seq; // the room's snapshot: seqs start at a wall-clock base
  await waitFor(() => events(a).some((e) => e.reason === 'tick' && e.seq > firstSeq + 5), { what: 'more ticks in the first room' });
  assert.ok(b.timers.slice(joinedAt).every((e) => e.room === other), 'nothing of the old room after the join');
  assert.ok(events(a).every((e) => e.room === room), 'nothing of the other room before a join');
  const badJoin = await b.timeout(10_000).emitWithAck('join', 'bad room!');
  assert.equal(badJoin.code, 'bad_room');
  assert.deepEqual(errors(b).map((e) => e.code), ['bad_room'], 'b saw its own error only');
});

test('server pings keep a live client; a session that stops answering them is closed', async (t) => {
  const server = await startServer([
    '--transport', 'socketio', '--socketio-ping-interval', '300', '--socketio-ping-timeout', '300',
  ]);
  t.after(() => server.stop());
  for (const transports of [['polling'], ['websocket']]) {
    const socket = client(server.url, { transports });
    t.after(() => socket.close());
    let pings = 0;
    await waitFor(() => socket.connected, { what: 'connect' });
    socket.io.engine.on('ping', () => pings++);
    await waitFor(() => pings >= 3, { what: `three pings over ${transports}` });
    assert.deepEqual(socket.disconnects, [], `still connected over ${transports}`);
    assert.equal(socket.connected, true);
  }
  // A raw session that never answers (no GET, no pong) is closed after the timeout.
  const sid = await handshake(server);
  await waitFor(async () => (await engineRequest(server, { EIO: '4', transport: 'polling', sid })).status === 400,
    { what: 'the silent session to be closed', timeoutMs: 10_000, intervalMs: 200 });
  const gone = await engineRequest(server, { EIO: '4', transport: 'polling', sid });
  assert.deepEqual(gone.json, { code: 1, message: 'Session ID unknown' });
});

test('recovery after a forced disconnect: the same socket.id, socket.recovered, the missed events, no duplicates', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50']);
  t.after(() => server.stop());
  const room = uniqueRoom('rec');
  // Default options: the client reconnects by itself after a transport close.
  const socket = client(`${server.url}/${room}`, { reconnectionDelay: 100, reconnectionDelayMax: 200 });
  t.after(() => socket.close());
  await waitFor(() => socket.connected && socket.timers.length, { what: 'connect' });
  assert.equal(socket.recovered, false);
  await rest(server, room, { type: 'start' });
  await waitFor(() => events(socket).length >= 5, { what: 'some ticks' });

  const reconnected = new Promise((resolve) => socket.once('connect', resolve));
  const before = events(socket).length;
  const lastBefore = events(socket).at(-1).seq;
  const idBefore = socket.id;
  const engineBefore = socket.io.engine.id;
  assert.ok(idBefore, 'a connected socket has an id');
  socket.io.engine.close(); // forced: the transport closes under the socket
  await reconnected;
  assert.equal(socket.recovered, true, 'the server recognised the pid and the offset');
  assert.notEqual(socket.io.engine.id, engineBefore, 'a new Engine.IO session');
  assert.equal(socket.id, idBefore, 'a recovered socket keeps its id (Socket.IO 4.6+ recovery)');
  assert.equal(socket.disconnects.length, 1, `one disconnection (${socket.disconnects})`);
  await waitFor(async () => events(socket).at(-1).seq >= (await roomSeq(server, room)) - 1 && events(socket).length > before + 3,
    { what: 'the client to catch up' });
  const after = events(socket).slice(before);
  assert.ok(after.every((e) => e.reason !== 'snapshot'), 'recovered: no snapshot, the missed events');
  assert.equal(after[0].seq, lastBefore + 1, 'the first event after the reconnection follows the last one before it');
  assertContiguous(events(socket), 'across the reconnection');
});

test('recovery past the history: a fresh snapshot, socket.recovered false, a new socket.id', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50', '--history', '4']);
  t.after(() => server.stop());
  const room = uniqueRoom('past');
  const socket = client(`${server.url}/${room}`, { reconnection: false });
  t.after(() => socket.close());
  await waitFor(() => socket.connected && socket.timers.length, { what: 'connect' });
  await rest(server, room, { type: 'start' });
  await waitFor(() => events(socket).length >= 3, { what: 'some ticks' });

  const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
  const idBefore = socket.id;
  assert.ok(idBefore, 'a connected socket has an id');
  socket.io.engine.close();
  await disconnected;
  const last = events(socket).at(-1).seq;
  await waitFor(async () => (await roomSeq(server, room)) > last + 10, { what: 'the room to move past the history' });
  const before = socket.timers.length;
  socket.connect();
  await waitFor(() => socket.connected && socket.timers.length > before, { what: 'reconnect' });
  assert.equal(socket.recovered, false);
  assert.ok(socket.id && socket.id !== idBefore, 'not recovered: a new socket id');
  assert.equal(socket.timers[before].reason, 'snapshot');
  assert.ok(socket.timers[before].seq > last + 10);
});

test('recovery brings a socket back to the room it joined, not its namespace', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50']);
  t.after(() => server.stop());
  const room = uniqueRoom('joined');
  const socket = client(server.url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
  t.after(() => socket.close());
  await waitFor(() => socket.connected, { what: 'connect' });
  assert.deepEqual(await socket.timeout(10_000).emitWithAck('join', room), { success: true, room });
  await rest(server, room, { type: 'start' });
  await waitFor(() => events(socket).filter((e) => e.room === room).length >= 4, { what: 'ticks of the joined room' });

  const reconnected = new Promise((resolve) => socket.once('connect', resolve));
  const before = socket.timers.length;
  const idBefore = socket.id;
  socket.io.engine.close();
  await reconnected;
  assert.equal(socket.recovered, true);
  assert.equal(socket.id, idBefore, 'the same socket id');
  await waitFor(() => socket.timers.length > before + 2, { what: 'events after the reconnection' });
  const after = socket.timers.slice(before);
  assert.ok(after.every((e) => e.room === room && e.reason !== 'snapshot'), 'the joined room, resumed');
  assertContiguous(events(socket).filter((e) => e.room === room), 'the joined room');
});

test('one connection, several namespaces: each socket gets its own room', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50']);
  t.after(() => server.stop());
  const [r1, r2] = [uniqueRoom('ns1'), uniqueRoom('ns2')];
  const a = client(`${server.url}/${r1}`, { transports: ['websocket'] });
  const b = a.io.socket(`/${r2}`); // the same Manager: multiplexed on one Engine.IO session
  const bTimers = [];
  b.on('timer', (data) => bTimers.push(data));
  b.connect();
  t.after(() => { b.close(); a.close(); });
  await waitFor(() => a.timers.length && bTimers.length, { what: 'both snapshots' });
  assert.equal(a.io.engine, b.io.engine, 'one Engine.IO connection');
  assert.equal((await b.timeout(10_000).emitWithAck('start')).success, true);
  await waitFor(() => bTimers.filter((e) => e.reason === 'tick').length >= 3, { what: 'ticks in the second room' });
  assert.ok(bTimers.every((e) => e.room === r2));
  assert.deepEqual(a.timers.map((e) => [e.room, e.reason]), [[r1, 'snapshot']], 'the first room did not start');
});
