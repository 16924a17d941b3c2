// The web page over long-polling in headless chromium, against the real tickcast-server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, openPage, restartAndReconnect, seconds, startServer, uniqueRoom, waitCountdownBelow, waitFor } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('transport=longpoll: the countdown falls after start, commands go over REST', async (t) => {
  const server = await startServer(['--transport', 'ws,sse,longpoll', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const room = uniqueRoom('poll');
  const page = await openPage(context, server, { room, transport: 'longpoll' });
  assert.equal(await page.textContent('#transport'), 'longpoll');
  assert.match(await page.textContent('#status'), /connected via longpoll$/);

  const initial = await page.textContent('#countdown');
  assert.match(initial, /^\d{2}:\d{2}:\d{2}$/, 'the snapshot shows HH:MM:SS at once');
  const posts = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && r.url().endsWith(`/api/rooms/${room}/commands`)) posts.push(r.status());
  });
  await page.click('#start');
  const later = await waitCountdownBelow(page, seconds(initial));
  await waitCountdownBelow(page, seconds(later)); // and it keeps falling
  // The page's POST answer and the stream's event travel on different connections.
  await waitFor(() => posts.length >= 1, { what: 'the start POST to be answered' });
  assert.deepEqual(posts, [200]);

  // A refused REST command shows the server's JSON error.
  await page.click('#start');
  await page.waitForSelector('#error:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.getAttribute('#error', 'data-code'), 'already_running');
  await waitFor(() => posts.length >= 2, { what: 'the second start POST to be answered' });
  assert.deepEqual(posts, [200, 409]);
});

test('transport=longpoll reconnects after the server restarts, without falling back', async (t) => {
  let server = await startServer(['--transport', 'ws,sse,longpoll', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('re'), transport: 'longpoll' });
  const restart = await restartAndReconnect(page, server, ['--transport', 'ws,sse,longpoll', '--tick-ms', '200']);
  server = restart.server;
  const states = restart.shown.map((e) => `${e.state}: ${e.text}`);
  assert.equal(restart.shown.at(-1).text, 'connected via longpoll', `a restart is no reason to fall back (shown: ${states.join(' | ')})`);
  assert.ok(!states.some((e) => /fallback/.test(e)), `no fallback on the way (shown: ${states.join(' | ')})`);
  const initial = seconds(await page.textContent('#countdown'));
  await page.click('#start');
  await waitCountdownBelow(page, initial);
});
