// Bad input to the Socket.IO transport: each gets its answer in Engine.IO / Socket.IO terms,
// and a client watching the room sees nothing of it (asserted on everything it recorded).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  client, engineRequest, errors, events, handshake, startServer, uniqueRoom, waitFor,
} from './sio.mjs';

let server;
let room;
let watcher;
before(async () => {
  server = await startServer(['--transport', 'socketio,ws', '--tick-ms', '100']);
  room = uniqueRoom('bad');
  watcher = client(`${server.url}/${room}`, { transports: ['websocket'] });
  await waitFor(() => watcher.connected && watcher.timers.length === 1, { what: 'the watcher to join' });
});
after(async () => {
  watcher?.close();
  await server?.stop();
});

// A raw Engine.IO WebSocket (node's WebSocket): resolves with the frames it got and how it
// closed, or with refused: true when the upgrade was refused (node fires only `error` then).
function rawWebSocket(query, frames) {
  return new Promise((resolve) => {
    const got = [];
    let opened = false;
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?${new URLSearchParams(query)}`);
    ws.onopen = () => { opened = true; };
    ws.onmessage = (m) => {
      got.push(String(m.data));
      if (got.length === 1) for (const f of frames) ws.send(f);
    };
    ws.onerror = () => { if (!opened) resolve({ got, refused: true }); };
    ws.onclose = (e) => resolve({ got, code: e.code, reason: e.reason, refused: !opened });
  });
}

test('EIO=3 is refused with 400 {"code":5,"message":"Unsupported protocol version"}', async () => {
  for (const query of [{ EIO: '3', transport: 'polling' }, { transport: 'polling' }]) {
    const res = await engineRequest(server, query);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 5, message: 'Unsupported protocol version' });
  }
  const ws = await rawWebSocket({ EIO: '3', transport: 'websocket' }, []);
  assert.equal(ws.refused, true, 'the upgrade is refused');
});

test('an unknown sid is 400 {"code":1,"message":"Session ID unknown"}, on GET, POST and the upgrade', async () => {
  const query = { EIO: '4', transport: 'polling', sid: 'nosuchsession' };
  for (const res of [await engineRequest(server, query), await engineRequest(server, query, { method: 'POST', body: '40' })]) {
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 1, message: 'Session ID unknown' });
  }
  const ws = await rawWebSocket({ EIO: '4', transport: 'websocket', sid: 'nosuchsession' }, []);
  assert.equal(ws.refused, true, 'the upgrade is refused');
});

test('an unknown transport is code 0; a POST handshake is code 2', async () => {
  const res = await engineRequest(server, { EIO: '4', transport: 'flashsocket' });
  assert.deepEqual([res.status, res.json], [400, { code: 0, message: 'Transport unknown' }]);
  const post = await engineRequest(server, { EIO: '4', transport: 'polling' }, { method: 'POST', body: '40' });
  assert.deepEqual([post.status, post.json], [400, { code: 2, message: 'Bad handshake method' }]);
});

test('a bad Engine.IO or Socket.IO packet type is 400 code 3 and ends that session only', async () => {
  for (const body of ['9hello', '49', '4x', '42{"not":"an array"}', '40\x1e\x1e40']) {
    const sid = await handshake(server);
    const res = await engineRequest(server, { EIO: '4', transport: 'polling', sid }, { method: 'POST', body });
    assert.equal(res.status, 400, body);
    assert.equal(res.json.code, 3, body);
    assert.equal(res.json.message, 'Bad request');
    assert.ok(res.json.context, `says why (${body})`);
    const next = await engineRequest(server, { EIO: '4', transport: 'polling', sid });
    assert.deepEqual(next.json, { code: 1, message: 'Session ID unknown' }, 'the session is closed');
  }
  const ws = await rawWebSocket({ EIO: '4', transport: 'websocket' }, ['40', '49']);
  assert.equal(ws.code, 1002);
  assert.match(ws.reason, /Socket\.IO packet/);
});

test('binary attachments are refused with an error to the sender; the connection stays', async (t) => {
  const sender = client(`${server.url}/${room}`, { transports: ['websocket'] });
  t.after(() => sender.close());
  await waitFor(() => sender.connected, { what: 'connect' });
  const refused = await sender.timeout(10_000).emitWithAck('configure', Buffer.from([1, 2, 3]));
  assert.equal(refused.success, false);
  assert.equal(refused.code, 'bad_request');
  assert.match(refused.error, /binary/);
  await waitFor(() => errors(sender).length === 1, { what: 'the error event' });
  assert.equal(sender.connected, true);
  assert.equal((await sender.timeout(10_000).emitWithAck('join', room)).success, true, 'still answers');
});

test('oversized payloads: 413 on a long-poll POST, close 1009 on a WebSocket', async (t) => {
  const sid = await handshake(server);
  const big = `42["configure",{"pad":"${'x'.repeat(5000)}"}]`;
  const res = await engineRequest(server, { EIO: '4', transport: 'polling', sid }, { method: 'POST', body: big });
  assert.equal(res.status, 413);
  assert.equal(res.json.code, 'too_large');

  const ws = await rawWebSocket({ EIO: '4', transport: 'websocket' }, ['40', big]);
  assert.equal(ws.code, 1009);

  const sender = client(`${server.url}/${room}`, { transports: ['websocket'], reconnection: false });
  t.after(() => sender.close());
  await waitFor(() => sender.connected, { what: 'connect' });
  sender.emit('configure', { pad: 'x'.repeat(5000) });
  await waitFor(() => sender.disconnects.length === 1, { what: 'the oversized sender to be closed' });
  assert.equal(sender.disconnects[0], 'transport close');
});

test('a namespace that names no valid room gets CONNECT_ERROR bad_room', async (t) => {
  const socket = client(`${server.url}/bad.room`, { transports: ['websocket'], reconnection: false });
  t.after(() => socket.close());
  await waitFor(() => socket.connectErrors.length === 1, { what: 'connect_error' });
  assert.equal(socket.connectErrors[0].message, 'room names match [A-Za-z0-9_-]{1,64}');
  assert.deepEqual(socket.connectErrors[0].data, { code: 'bad_room' });
  assert.equal(socket.connected, false);
  const bad = await handshake(server);
  await engineRequest(server, { EIO: '4', transport: 'polling', sid: bad }, { method: 'POST', body: `40/${'r'.repeat(65)},` });
  const answer = await engineRequest(server, { EIO: '4', transport: 'polling', sid: bad });
  assert.match(answer.text, /^44\/r+,\{"message":"room names match/);
});

test('bad commands answer the sender only: unknown event, bad join, bad configure, rate limit', async (t) => {
  const sender = client(`${server.url}/${room}`, { transports: ['polling'] });
  t.after(() => sender.close());
  await waitFor(() => sender.connected, { what: 'connect' });
  assert.equal((await sender.timeout(10_000).emitWithAck('explode')).code, 'unknown_command');
  assert.equal((await sender.timeout(10_000).emitWithAck('join', '../etc')).code, 'bad_room');
  assert.equal((await sender.timeout(10_000).emitWithAck('configure', { cycles: 0 })).code, 'bad_request');
  assert.equal((await sender.timeout(10_000).emitWithAck('start', { type: 'stop' })).code, 'bad_request');
  assert.equal((await sender.timeout(10_000).emitWithAck('stop')).code, 'already_stopped');
  const burst = await Promise.all(Array.from({ length: 60 }, () => sender.timeout(10_000).emitWithAck('stop')));
  assert.ok(burst.some((r) => r.code === 'rate_limited'), 'a burst past the rate is refused');
  assert.ok(errors(sender).length >= 5);
});

test('the watcher saw nothing of it: only its snapshot, then the sentinel command', async () => {
  assert.deepEqual(errors(watcher), []);
  assert.deepEqual(events(watcher).map((e) => e.reason), ['snapshot']);
  // The sentinel: a good command from elsewhere reaches it, so it was listening all along.
  const res = await fetch(`${server.url}/api/rooms/${room}/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"reset"}',
  });
  assert.equal(res.status, 200);
  await waitFor(() => events(watcher).length === 2, { what: 'the sentinel' });
  assert.deepEqual(events(watcher).map((e) => e.reason), ['snapshot', 'reset']);
  assert.equal(events(watcher)[1].seq, events(watcher)[0].seq + 1, 'no event in between');
  assert.deepEqual(watcher.disconnects, []);
});
