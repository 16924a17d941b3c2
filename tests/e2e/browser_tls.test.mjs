// The web page over TLS and HTTP/2 in headless chromium, against the real tickcast-server
// with a throw-away self-signed certificate (the browser context ignores certificate
// errors): more SSE pages than HTTP/1.1's six connections per origin all tick, the page
// works over wss, and with room tokens it works with ?token= and says "not allowed"
// without one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, openPage, seconds, startServer, statusLog, uniqueRoom, waitCountdownBelow, waitFor } from './harness.mjs';

let browser;
let dir;
let tlsFlags;
before(async () => {
  browser = await launchBrowser();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tickcast-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2', '-keyout', key, '-out', cert, '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  tlsFlags = ['--tls-cert', cert, '--tls-key', key];
});
after(async () => {
  await browser?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const newContext = () => browser.newContext({ ignoreHTTPSErrors: true });

test('eight SSE pages over https (HTTP/2) are all live at once', async (t) => {
  const server = await startServer([...tlsFlags, '--transport', 'ws,sse,longpoll', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await newContext();
  t.after(() => context.close());
  const base = uniqueRoom('tab');
  const pages = [];
  for (let i = 0; i < 8; i++) {
    // One browser profile, one origin: over HTTP/1.1 the seventh stream would wait for a
    // free connection; over HTTP/2 they are streams of one.
    pages.push(await openPage(context, server, { room: `${base}-${i}`, transport: 'sse' }));
  }
  for (const page of pages) {
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
    assert.equal(await page.textContent('#transport'), 'sse');
    assert.match(await page.textContent('#status'), /^connected via sse$/);
  }
  const health = await pages[0].evaluate(async () => (await fetch('/healthz')).json());
  assert.ok(health.transports.sse.clients >= 8, `8 SSE streams open at once (healthz: ${JSON.stringify(health)})`);

  const initial = await Promise.all(pages.map((p) => p.textContent('#countdown')));
  for (const page of pages) await page.click('#start');
  // Every page keeps ticking: its countdown falls, and falls again.
  await Promise.all(pages.map(async (page, i) => {
    const later = await waitCountdownBelow(page, seconds(initial[i]));
    await waitCountdownBelow(page, seconds(later));
  }));
  for (const page of pages) assert.deepEqual(page.problems, []);
});

test('the page over wss:// on the TLS port', async (t) => {
  const server = await startServer([...tlsFlags, '--transport', 'ws,sse,longpoll', '--tick-ms', '200']);
  t.after(() => server.stop());
  const context = await newContext();
  t.after(() => context.close());
  const page = await openPage(context, server, { room: uniqueRoom('wss'), transport: 'ws' });
  assert.match(await page.textContent('#status'), /^connected via ws$/);
  const initial = seconds(await page.textContent('#countdown'));
  await page.click('#start'); // over the WebSocket
  await waitCountdownBelow(page, initial);
});

function tokenTool() {
  if (process.env.TICKCAST_TOKEN) return process.env.TICKCAST_TOKEN;
  return path.join(path.dirname(process.env.TICKCAST_SERVER), '..', 'tickcast-token', 'tickcast-token');
}

test('with room tokens: ?token= works on every transport, without one the page says "not allowed"', async (t) => {
  const secret = path.join(dir, 'secret.txt');
  fs.writeFileSync(secret, 'e2e-secret-e2e-secret-e2e-secret-42\n');
  const server = await startServer([...tlsFlags, '--transport', 'ws,sse,longpoll', '--tick-ms', '200', '--auth-secret', secret]);
  t.after(() => server.stop());
  const room = uniqueRoom('tok');
  const token = execFileSync(tokenTool(), ['--secret', secret, '--room', room, '--perm', 'subscribe,command', '--ttl', '10m']).toString().trim();
  const context = await newContext();
  t.after(() => context.close());

  for (const transport of ['ws', 'sse', 'longpoll']) {
    const page = await openPage(context, server, { room, transport, token });
    assert.match(await page.textContent('#status'), new RegExp(`^connected via ${transport}$`));
    await page.close();
  }
  const page = await openPage(context, server, { room, transport: 'sse', token });
  const initial = seconds(await page.textContent('#countdown'));
  await page.click('#start'); // REST, with the token as a Bearer header
  await waitCountdownBelow(page, initial);

  for (const transport of ['ws', 'sse', 'longpoll']) {
    const denied = await openPage(context, server, { room, transport, connected: false });
    await denied.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'denied', null, { timeout: 15_000, polling: 50 });
    assert.match(await denied.textContent('#status'), /^not allowed: a token is required$/);
    assert.equal(await denied.getAttribute('#error', 'data-code'), 'unauthorized');
    await denied.close();
  }
  // A token for another room: 403, shown as such.
  const other = await openPage(context, server, { room: `${room}-b`, transport: 'ws', token, connected: false });
  await waitFor(async () => (await other.textContent('#status')).startsWith('not allowed'), { what: '"not allowed" for another room' });
  assert.match(await other.textContent('#status'), /not for room/);
});

test('a token that expires while the page is open: "not allowed: token expired", on ws and sse', async (t) => {
  const secret = path.join(dir, 'secret-exp.txt');
  fs.writeFileSync(secret, 'e2e-expiry-secret-e2e-expiry-secret\n');
  const server = await startServer([...tlsFlags, '--transport', 'ws,sse,longpoll', '--tick-ms', '200', '--auth-secret', secret]);
  t.after(() => server.stop());
  const context = await newContext();
  t.after(() => context.close());
  for (const transport of ['ws', 'sse']) {
    const room = uniqueRoom(`exp-${transport}`);
    const token = execFileSync(tokenTool(), ['--secret', secret, '--room', room, '--ttl', '3s']).toString().trim();
    const page = await openPage(context, server, { room, transport, token });
    try {
      await page.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'denied', null, { timeout: 20_000, polling: 50 });
    } catch (e) {
      throw new Error(`${transport}: ${e.message}; shown: ${JSON.stringify(await statusLog(page))}; ${page.problems.join(' | ')}`);
    }
    assert.match(await page.textContent('#status'), /^not allowed: token expired$/, transport);
    await page.close();
  }
});
