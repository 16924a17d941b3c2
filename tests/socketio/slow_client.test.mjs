// A Socket.IO client that stops reading meets the shared fan-out's bounded queue, as ws and
// sse clients do: its oldest ticks are shed (never a state change), and once its queue holds
// nothing but state changes it is closed. A raw long-polling session that stops polling.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engineRequest, handshake, rest, startServer, uniqueRoom, waitFor } from './sio.mjs';

const MAX_QUEUE = 4;

async function metric(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const found = text.match(new RegExp(`^${name}\\{transport="socketio"\\} (\\d+)$`, 'm'));
  return found ? Number(found[1]) : 0;
}

// The `timer` events of a long-polling payload on namespace `/room`.
function timerEvents(text, room) {
  const prefix = `42/${room},`;
  return text.split('\x1e').filter((p) => p.startsWith(prefix)).map((p) => JSON.parse(p.slice(prefix.length))[1]);
}

test('a socket that stops reading: ticks shed, state changes kept, then closed when stuck', async (t) => {
  const server = await startServer(['--transport', 'socketio', '--tick-ms', '50', '--max-queue', String(MAX_QUEUE)]);
  t.after(() => server.stop());
  const room = uniqueRoom('slow');
  const sid = await handshake(server);
  const poll = { EIO: '4', transport: 'polling', sid };
  const connect = await engineRequest(server, poll, { method: 'POST', body: `40/${room},` });
  assert.equal(connect.status, 200, connect.text);
  const joined = await engineRequest(server, poll);
  assert.match(joined.text, new RegExp(`^40/${room},\\{"sid":`));
  assert.equal(timerEvents(joined.text, room)[0].reason, 'snapshot');

  // Not polling: the queue fills with the start and ticks; the oldest ticks are dropped.
  assert.equal((await rest(server, room, { type: 'start' })).status, 200);
  await waitFor(async () => (await metric(server, 'tickcast_ticks_dropped_total')) >= 3,
    { what: 'ticks dropped from the full queue' });
  const held = timerEvents((await engineRequest(server, poll)).text, room);
  assert.ok(held.length <= MAX_QUEUE, `at most ${MAX_QUEUE} queued, got ${held.length}`);
  assert.equal(held[0].reason, 'start', 'the state change is kept, the ticks after it shed');
  assert.ok(held.slice(1).every((e) => e.reason === 'tick'));
  assert.equal(await metric(server, 'tickcast_clients_closed_slow_total'), 0);

  // Not polling again: state changes fill the queue; the next one finds no tick to shed.
  for (const type of ['stop', 'start', 'stop', 'start', 'stop', 'start']) {
    assert.equal((await rest(server, room, { type })).status, 200);
  }
  await waitFor(async () => (await metric(server, 'tickcast_clients_closed_slow_total')) === 1,
    { what: 'the stuck session to be closed' });
  const gone = await engineRequest(server, poll);
  assert.deepEqual([gone.status, gone.json], [400, { code: 1, message: 'Session ID unknown' }]);
});
