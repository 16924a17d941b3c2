// Helpers of the Socket.IO tests: the real npm socket.io-client 4.x against the real
// tickcast-server (started by the shared harness), recording what each client receives.
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';

export { freePort, startServer, uniqueRoom, waitFor } from '../e2e/harness.mjs';
export { io };

/**
 * client opens a socket.io-client socket that records every `timer` event (and its offset)
 * in `socket.timers`, every connect_error in `socket.connectErrors` and every disconnect
 * reason in `socket.disconnects`. Each client has its own Engine.IO connection.
 */
export function client(url, opts = {}) {
  const socket = io(url, { forceNew: true, ...opts });
  socket.timers = [];
  socket.offsets = [];
  socket.connectErrors = [];
  socket.disconnects = [];
  socket.on('timer', (data, offset) => {
    socket.timers.push(data);
    socket.offsets.push(offset);
  });
  socket.on('connect_error', (e) => socket.connectErrors.push(e));
  socket.on('disconnect', (reason) => socket.disconnects.push(reason));
  return socket;
}

/** events returns the room events (success:true) a socket got, in order. */
export function events(socket) {
  return socket.timers.filter((t) => t.success);
}

/** errors returns the error events (success:false) a socket got. */
export function errors(socket) {
  return socket.timers.filter((t) => !t.success);
}

/** assertContiguous checks that a list of events has seqs n, n+1, n+2, ... */
export function assertContiguous(list, what = 'events') {
  for (let i = 1; i < list.length; i++) {
    assert.equal(list[i].seq, list[i - 1].seq + 1, `${what}: seq ${list[i - 1].seq} is followed by ${list[i].seq}`);
  }
}

/** rest sends a command over REST. */
export async function rest(server, room, command) {
  const res = await fetch(`${server.url}/api/rooms/${room}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(command),
  });
  return { status: res.status, body: await res.json() };
}

/** roomSeq reads a room's latest seq over REST. */
export async function roomSeq(server, room) {
  const res = await fetch(`${server.url}/api/rooms/${room}`);
  return (await res.json()).seq;
}

/** engineRequest sends one raw Engine.IO long-polling request; resolves {status, text, json}. */
export async function engineRequest(server, query, { method = 'GET', body } = {}) {
  const res = await fetch(`${server.url}/socket.io/?${new URLSearchParams(query)}`, {
    method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'text/plain;charset=UTF-8' },
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, type: res.headers.get('content-type') };
}

/** handshake opens a raw long-polling Engine.IO session; returns its sid. */
export async function handshake(server) {
  const open = await engineRequest(server, { EIO: '4', transport: 'polling' });
  assert.equal(open.status, 200, open.text);
  assert.equal(open.text[0], '0');
  return JSON.parse(open.text.slice(1)).sid;
}

/** closeAll closes sockets, ignoring the ones already closed. */
export function closeAll(...sockets) {
  for (const s of sockets) s?.close();
}
