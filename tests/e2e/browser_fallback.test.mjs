// Automatic fallback ws -> sse -> longpoll in headless chromium, against the real tickcast-server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, openPage, seconds, startServer, uniqueRoom, waitCountdownBelow } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function assertFallback(page, used, from) {
  assert.equal(await page.textContent('#transport'), used);
  assert.equal(await page.getAttribute('#transport', 'data-fallback'), 'true');
  assert.equal(await page.textContent('#status'), `connected via ${used} (fallback from ${from})`);
  const initial = await page.textContent('#countdown');
  await page.click('#start');
  await waitCountdownBelow(page, seconds(initial));
}

test('server with only sse: transport=ws falls back to sse and says so', async (t) => {
  const server = await startServer(['--transport', 'sse', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('fb'), transport: 'ws' });
  await assertFallback(page, 'sse', 'ws');
});

test('server with only longpoll: transport=ws falls back past sse to longpoll', async (t) => {
  const server = await startServer(['--transport', 'longpoll', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('fb'), transport: 'ws' });
  await assertFallback(page, 'longpoll', 'ws');
});

test('a WebSocket that cannot connect falls back to sse even when /api/config lists ws', async (t) => {
  const server = await startServer(['--transport', 'sse', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  // Pretend every transport is enabled: the page must find out by failing to connect.
  let configCalls = 0;
  await context.route('**/api/config', async (route) => {
    configCalls++;
    const res = await route.fetch();
    const cfg = await res.json();
    cfg.transports = ['ws', 'sse', 'longpoll'];
    await route.fulfill({ response: res, json: cfg });
  });
  const wsAttempts = [];
  context.on('page', (p) => p.on('websocket', (ws) => wsAttempts.push(ws.url())));
  const page = await openPage(context, server, { room: uniqueRoom('fb'), transport: 'ws' });
  assert.ok(configCalls >= 1);
  assert.ok(wsAttempts.length >= 2, `the WebSocket was tried twice before giving up (${wsAttempts.length})`);
  await assertFallback(page, 'sse', 'ws');
});
