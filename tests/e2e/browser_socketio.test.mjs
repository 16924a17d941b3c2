// The web page over Socket.IO (?transport=socketio) in headless chromium: the real
// socket.io-client browser bundle, served by tickcast-server from the npm package (no CDN).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  launchBrowser, openPage, restartAndReconnect, seconds, startServer, uniqueRoom, waitCountdownBelow, waitFor,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('two tabs over socketio show the same falling countdown; commands go over Socket.IO', async (t) => {
  const server = await startServer(['--transport', 'ws,sse,longpoll,socketio', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const room = uniqueRoom('sio');

  const a = await openPage(context, server, { room, transport: 'socketio' });
  const b = await openPage(context, server, { room, transport: 'socketio' });
  for (const p of [a, b]) {
    assert.equal(await p.textContent('#transport'), 'socketio');
    assert.match(await p.textContent('#status'), /connected via socketio$/);
    assert.equal(await p.evaluate(() => typeof window.io), 'function', 'the socket.io-client bundle is loaded');
  }
  assert.ok(requests.some((u) => u === `${server.url}/socket.io/socket.io.min.js`), 'the bundle came from this server');
  assert.deepEqual(requests.filter((u) => !u.startsWith(server.url)), [], 'nothing from elsewhere (no CDN)');
  assert.ok(requests.some((u) => u.includes('/socket.io/?EIO=4')), 'Engine.IO v4');

  const initial = await a.textContent('#countdown');
  assert.match(initial, /^\d{2}:\d{2}:\d{2}$/);
  assert.equal(await b.textContent('#countdown'), initial);

  const restCalls = [];
  a.on('request', (r) => { if (r.url().includes('/api/rooms/')) restCalls.push(r.url()); });
  await a.click('#start');
  const start = seconds(initial);
  await Promise.all([waitCountdownBelow(a, start), waitCountdownBelow(b, start)]);
  const same = await waitFor(async () => {
    const [x, y] = await Promise.all([a.textContent('#countdown'), b.textContent('#countdown')]);
    return x === y && seconds(x) < start ? x : null;
  }, { timeoutMs: 10_000, what: 'both tabs to show the same countdown' });
  await waitCountdownBelow(b, seconds(same));
  assert.deepEqual(restCalls, [], 'no REST call for a Socket.IO command');
  assert.equal(await a.textContent('#running'), 'running');

  // A second start is refused, to the requester only.
  await b.click('#start');
  await b.waitForSelector('#error:not([hidden])', { timeout: 10_000 });
  assert.equal(await b.getAttribute('#error', 'data-code'), 'already_running');
  assert.equal(await a.isHidden('#error'), true, 'errors go to the requester only');

  await a.click('#stop');
  await b.waitForFunction(() => document.querySelector('#running').textContent === 'paused', null, { timeout: 10_000 });
  assert.deepEqual([...a.problems, ...b.problems].filter((p) => !/favicon/.test(p)), []);
});

test('the page over socketio reconnects after a server restart', async (t) => {
  const flags = ['--transport', 'socketio', '--tick-ms', '200'];
  let server = await startServer(flags);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('re'), transport: 'socketio' });
  const restart = await restartAndReconnect(page, server, flags, { away: /^reconnecting via socketio/ });
  server = restart.server;
  assert.equal(restart.shown.at(-1).text, 'connected via socketio');
  const initial = seconds(await page.textContent('#countdown'));
  await page.click('#start');
  await waitCountdownBelow(page, initial);
});
