// The web page over WebSocket in headless chromium, against the real tickcast-server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  launchBrowser, openPage, restartAndReconnect, seconds, startServer, uniqueRoom, waitCountdownBelow, waitFor,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('two tabs in one room over ws show the same falling HH:MM:SS', async (t) => {
  const server = await startServer(['--transport', 'ws', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const room = uniqueRoom('ws');

  const a = await openPage(context, server, { room, transport: 'ws' });
  const b = await openPage(context, server, { room, transport: 'ws' });
  for (const p of [a, b]) {
    assert.equal(await p.textContent('#transport'), 'ws');
    assert.match(await p.textContent('#status'), /connected via ws$/);
  }
  const initial = await a.textContent('#countdown');
  assert.match(initial, /^\d{2}:\d{2}:\d{2}$/, 'the snapshot shows HH:MM:SS before any tick');
  assert.equal(await b.textContent('#countdown'), initial);
  assert.equal(await a.textContent('#phase'), 'Work');

  // Over ws the command must go over the socket, not REST.
  const restCalls = [];
  a.on('request', (r) => { if (r.url().includes('/api/rooms/')) restCalls.push(r.url()); });
  // The page's socket was opened before we could listen to it: record sends with a hook.
  await a.evaluate(() => {
    const orig = WebSocket.prototype.send;
    window.__sent = [];
    WebSocket.prototype.send = function send(data) { window.__sent.push(String(data)); return orig.call(this, data); };
  });

  await a.click('#start');
  const start = seconds(initial);
  await Promise.all([waitCountdownBelow(a, start), waitCountdownBelow(b, start)]);

  // Both tabs show the same value at some moment (a tick may land between two reads).
  const same = await waitFor(async () => {
    const [x, y] = await Promise.all([a.textContent('#countdown'), b.textContent('#countdown')]);
    return x === y && seconds(x) < start ? x : null;
  }, { timeoutMs: 10_000, what: 'both tabs to show the same countdown' });
  assert.ok(seconds(same) < start, `${same} is below ${initial}`);

  // And it keeps falling.
  await waitCountdownBelow(b, seconds(same));

  const sent = await a.evaluate(() => window.__sent);
  assert.ok(sent.some((s) => JSON.parse(s).type === 'start'), `start went over the WebSocket (sent: ${sent})`);
  assert.deepEqual(restCalls, [], 'no REST call for a ws command');
  assert.equal(await a.textContent('#running'), 'running');
  assert.equal(await a.isHidden('#error'), true);
  assert.deepEqual([...a.problems, ...b.problems].filter((p) => !/favicon/.test(p)), []);
});

test('start on a running timer shows the already_running error; stop, reset and skip apply to both tabs', async (t) => {
  const server = await startServer(['--transport', 'ws', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const room = uniqueRoom('ws');
  const a = await openPage(context, server, { room, transport: 'ws' });
  const b = await openPage(context, server, { room, transport: 'ws' });

  await a.click('#start');
  await b.waitForFunction(() => document.querySelector('#running').textContent === 'running', null, { timeout: 10_000 });
  await b.click('#start');
  await b.waitForSelector('#error:not([hidden])', { timeout: 10_000 });
  assert.match(await b.textContent('#error-text'), /already/i);
  assert.equal(await b.getAttribute('#error', 'data-code'), 'already_running');
  assert.equal(await a.isHidden('#error'), true, 'errors go to the requester only');

  await a.click('#stop');
  await b.waitForFunction(() => document.querySelector('#running').textContent === 'paused', null, { timeout: 10_000 });

  await b.click('#skip');
  await a.waitForFunction(() => document.querySelector('#phase').textContent === 'Short break', null, { timeout: 10_000 });

  await a.click('#reset');
  // Reset restarts the current phase from its full length (short break: 5m by default).
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelector('#countdown').textContent === '00:05:00', null, { timeout: 10_000 });
    assert.equal(await p.textContent('#phase'), 'Short break');
  }
});

test('a phase that reaches 00:00:00 moves on to the short break and counts the work session', async (t) => {
  const server = await startServer(['--transport', 'ws', '--tick-ms', '100', '--work', '2s']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('ws'), transport: 'ws' });
  assert.equal(await page.textContent('#countdown'), '00:00:02');
  await page.evaluate(() => {
    window.__shown = [];
    const el = document.querySelector('#countdown');
    new MutationObserver(() => window.__shown.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await page.click('#start');
  await page.waitForFunction(() => document.querySelector('#phase').textContent === 'Short break', null, { timeout: 15_000 });
  assert.equal(await page.textContent('#completed'), '1');
  const shown = await page.evaluate(() => window.__shown);
  assert.ok(shown.includes('00:00:00'), `the final 00:00:00 was shown (saw ${shown.join(' ')})`);
  assert.equal(await page.textContent('#running'), 'paused', 'the next phase waits for start');
});

test('room switch from the page joins the other room', async (t) => {
  const server = await startServer(['--transport', 'ws', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const busy = uniqueRoom('busy');
  const a = await openPage(context, server, { room: busy, transport: 'ws' });
  const b = await openPage(context, server, { room: uniqueRoom('quiet'), transport: 'ws' });
  await a.click('#start');
  const initial = seconds(await a.textContent('#countdown'));
  await waitCountdownBelow(a, initial);
  assert.equal(seconds(await b.textContent('#countdown')), initial, 'another room does not tick');

  await b.fill('#room', busy);
  await b.press('#room', 'Enter');
  await waitCountdownBelow(b, initial);
  assert.match(b.url(), new RegExp(`room=${busy}`));

  await b.fill('#room', 'bad room!');
  await b.press('#room', 'Enter');
  await b.waitForSelector('#error:not([hidden])', { timeout: 5_000 });
  assert.equal(await b.getAttribute('#error', 'data-code'), 'bad_room');
});

test('the page shows reconnecting with a back-off while the server is away, then reconnects', async (t) => {
  let server = await startServer(['--transport', 'ws', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const room = uniqueRoom('re');
  const page = await openPage(context, server, { room, transport: 'ws' });

  const restart = await restartAndReconnect(page, server, ['--transport', 'ws', '--tick-ms', '200'], { away: /^reconnecting in \d+s$/ });
  server = restart.server;
  const states = restart.shown.map((e) => `${e.state}: ${e.text}`);
  assert.equal(restart.shown.at(-1).text, 'connected via ws', `a restart is no reason to fall back (shown: ${states.join(' | ')})`);
  assert.ok(!states.some((e) => /fallback/.test(e)), `no fallback on the way (shown: ${states.join(' | ')})`);
  const initial = seconds(await page.textContent('#countdown'));
  await page.click('#start');
  await waitCountdownBelow(page, initial);
});

test('theme follows prefers-color-scheme, toggles, and is remembered', async (t) => {
  const server = await startServer(['--transport', 'ws']);
  t.after(() => server.stop());
  const context = await browser.newContext({ colorScheme: 'dark' });
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('theme'), transport: 'ws' });
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  assert.equal(await theme(), 'dark');
  // The theme's colour variables (colours themselves fade in a transition).
  const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());
  const darkBg = await bg();
  await page.click('#theme');
  assert.equal(await theme(), 'light');
  assert.notEqual(await bg(), darkBg);
  assert.equal(await page.getAttribute('#theme', 'aria-pressed'), 'false');
  await page.reload();
  await page.waitForSelector('#status');
  assert.equal(await theme(), 'light', 'the choice survives a reload');
});
