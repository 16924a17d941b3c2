// Shared harness of the browser tests: start the real tickcast-server on a free loopback
// port, drive Debian's chromium through playwright-core, and wait on conditions with a
// deadline (never a fixed sleep).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ESM resolves 'playwright-core' by walking up from this file to <repo>/node_modules
// (ESM ignores NODE_PATH); a checkout whose node_modules sits elsewhere is found through
// the working directory or NODE_PATH, as ctest sets them.
async function loadPlaywright() {
  const errors = [];
  try {
    return await import('playwright-core');
  } catch (e) {
    errors.push(e.message);
  }
  const bases = [process.cwd(), ...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean).map((d) => path.dirname(d))];
  for (const base of bases) {
    try {
      const resolved = createRequire(path.join(base, 'package.json')).resolve('playwright-core');
      return await import(pathToFileURL(resolved).href);
    } catch (e) {
      errors.push(e.message);
    }
  }
  throw new Error(
    'playwright-core is not installed: run `npm ci` in the repository root ' +
      "(scripts/setup.sh does it, with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1: the tests use Debian's chromium). " +
      `Import failed with: ${errors[0]}`,
  );
}
const { chromium } = await loadPlaywright();

export const CHROMIUM = process.env.TICKCAST_CHROMIUM || '/usr/bin/chromium';

// Without the background-networking flags chromium dials out at start, which a closed
// network answers slowly or not at all.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** launchBrowser starts headless chromium with a fresh temporary profile. */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: install Debian's "chromium" (scripts/setup.sh) or set TICKCAST_CHROMIUM`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** freePort asks the kernel for an unused loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** waitFor polls check() every intervalMs until it returns a truthy value or the deadline passes. */
export async function waitFor(check, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * startServer runs $TICKCAST_SERVER on a free loopback port with the given extra flags
 * and resolves once GET /healthz answers 200. stop() sends SIGTERM (SIGKILL after 5 s).
 */
export async function startServer(flags = [], { port: fixedPort } = {}) {
  const bin = process.env.TICKCAST_SERVER;
  if (!bin) throw new Error('TICKCAST_SERVER is not set: it must name the tickcast-server binary (ctest sets it)');
  if (!fs.existsSync(bin)) throw new Error(`TICKCAST_SERVER=${bin} does not exist: build the tickcast-server target first`);

  // The port can be taken between our probe and the server's bind: try a few.
  let lastError;
  for (let tries = 0; tries < 3; tries++) {
    const port = fixedPort ?? (await freePort());
    const server = spawnServer(bin, port, flags);
    try {
      await waitFor(
        async () => {
          if (server.exited) {
            throw Object.assign(new Error(`tickcast-server exited (${server.exited}) before it was healthy`), { fatal: true });
          }
          return (await httpStatus(`${server.url}/healthz`)) === 200;
        },
        { timeoutMs: 15_000, intervalMs: 50, what: `${server.url}/healthz` },
      );
      return server;
    } catch (e) {
      lastError = new Error(`${e.message}\n--- server output ---\n${server.output()}`);
      await server.stop();
      // Only a lost race for the port is worth another try.
      if (!/address already in use|bind|EADDRINUSE/i.test(server.output())) break;
    }
  }
  throw lastError;
}

/**
 * httpStatus GETs `url` and resolves with its status (0 when it cannot connect). https is
 * accepted with any certificate: the tests' servers use throw-away self-signed ones.
 */
export async function httpStatus(url, headers = {}) {
  if (!url.startsWith('https:')) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }
  return new Promise((resolve) => {
    const req = https.get(url, { headers, rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function spawnServer(bin, port, flags) {
  // Each server gets a fresh data folder of its own (the default, ./tickcast-data, would be
  // shared, and locked, by servers started in parallel), removed when it exits.
  const dataDir = flags.includes('--data-dir') ? null : fs.mkdtempSync('/tmp/tickcast-e2e-data-');
  const args = ['--host', '127.0.0.1', '--port', String(port), ...flags, ...(dataDir ? ['--data-dir', dataDir] : [])];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d) => {
    out += d;
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const server = {
    port,
    url: `${flags.includes('--tls-cert') ? 'https' : 'http'}://127.0.0.1:${port}`,
    exited: null,
    output: () => `$ ${bin} ${args.join(' ')}\n${out}`,
    pid: child.pid,
    /** killHard sends SIGKILL (a node that dies without a word) and waits for the exit. */
    async killHard() {
      if (server.exited) return;
      child.kill('SIGKILL');
      await exitedPromise;
    },
    async stop() {
      if (server.exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitedPromise;
      clearTimeout(killer);
    },
  };
  const exitedPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      server.exited = code !== null ? `code ${code}` : `signal ${signal}`;
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      resolve();
    });
    child.on('error', (e) => {
      server.exited = `spawn error ${e.message}`;
      resolve();
    });
  });
  return server;
}

/**
 * startNats runs a JetStream nats-server (Debian's `nats-server`, scripts/setup.sh) on a free
 * loopback port with a fresh store folder, resolves once it accepts connections, and
 * returns { url, stop() }; stop() kills it by pid and removes the folder.
 */
export async function startNats() {
  const bin = ['/usr/bin/nats-server', '/usr/sbin/nats-server'].find((p) => fs.existsSync(p));
  if (!bin) throw new Error('nats-server not found: install Debian\'s "nats-server" (scripts/setup.sh)');
  const dir = fs.mkdtempSync('/tmp/tickcast-e2e-nats-');
  const port = await freePort();
  const child = spawn(bin, ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  let exited = null;
  const exitedPromise = new Promise((resolve) => child.on('exit', (code, signal) => { exited = code ?? signal; resolve(); }));
  const nats = {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        await exitedPromise;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      () => {
        if (exited !== null) throw Object.assign(new Error(`nats-server exited (${exited}): ${out}`), { fatal: true });
        return /Server is ready/.test(out);
      },
      { what: 'nats-server to be ready' },
    );
  } catch (e) {
    await nats.stop();
    throw e;
  }
  return nats;
}

/** uniqueRoom gives each test its own room, so nothing leaks between tests. */
export function uniqueRoom(prefix = 'e2e') {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** openPage opens the web page for a room and transport and waits until it is connected. */
export async function openPage(context, server, { room, transport, token, connected = true, timeoutMs = 15_000 }) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  await page.addInitScript(recordStatusChanges);
  const q = new URLSearchParams({ room });
  if (transport) q.set('transport', transport);
  if (token) q.set('token', token);
  await page.goto(`${server.url}/?${q}`);
  if (connected) await waitConnected(page, timeoutMs);
  return page;
}

// Runs in the page before its scripts: records every connection state #status shows, in
// order, so a test asserts on the sequence that happened instead of reading the state a
// moment after it may already have moved on (a back-off that fires while we look).
function recordStatusChanges() {
  window.__statusLog = [];
  const attach = () => {
    const el = document.querySelector('#status');
    if (!el || el.__recorded) return;
    el.__recorded = true;
    let last = '';
    const record = () => {
      const entry = `${el.dataset.state ?? ''}|${el.textContent}`;
      if (entry !== last) window.__statusLog.push({ state: el.dataset.state ?? '', text: el.textContent });
      last = entry;
    };
    record();
    // Each record is read as it is delivered: a change and its undo in one task would be
    // merged, but setStatus runs at most once per task.
    new MutationObserver(record).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
  };
  document.addEventListener('readystatechange', attach);
  document.addEventListener('DOMContentLoaded', attach);
}

/** statusLog returns every {state, text} the page's #status has shown, in order. */
export function statusLog(page) {
  return page.evaluate(() => window.__statusLog ?? []);
}

/**
 * waitStatusShown waits until the page's #status has shown a state (and, optionally, a text
 * matching `text`) at some moment since `from` (an index into statusLog), and returns that
 * entry's index. It never misses a state that was shown only briefly.
 */
export async function waitStatusShown(page, state, { text = /(?:)/, from = 0, timeoutMs = 15_000 } = {}) {
  const shown = await waitFor(
    async () => {
      const log = await statusLog(page);
      const i = log.findIndex((e, j) => j >= from && e.state === state && text.test(e.text));
      return i >= 0 ? { index: i } : null;
    },
    { timeoutMs, what: `#status to show "${state}" matching ${text}` },
  );
  return shown.index;
}

/**
 * restartAndReconnect stops `server`, waits until the page has shown `away` (a
 * "reconnecting" state whose text matches it), starts the server again on the same port
 * with `flags`, waits until the page has shown "connected" after that, and returns the new
 * server and the states the page went through from the stop to the reconnection.
 */
export async function restartAndReconnect(page, server, flags, { away = /(?:)/ } = {}) {
  const from = (await statusLog(page)).length;
  await server.stop();
  const awayAt = await waitStatusShown(page, 'reconnecting', { text: away, from, timeoutMs: 40_000 });
  const restarted = await startServer(flags, { port: server.port });
  const backAt = await waitStatusShown(page, 'connected', { from: awayAt, timeoutMs: 30_000 });
  return { server: restarted, shown: (await statusLog(page)).slice(from, backAt + 1) };
}

/** waitConnected waits for the page's connection state to read "connected". */
export async function waitConnected(page, timeoutMs = 15_000) {
  try {
    await page.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'connected', null, {
      timeout: timeoutMs,
      polling: 50,
    });
  } catch (e) {
    const status = await page.textContent('#status').catch(() => '?');
    throw new Error(`page never connected (status "${status}"; ${(page.problems || []).join(' | ')}): ${e.message}`);
  }
}

/** seconds turns "HH:MM:SS" into a number of seconds (NaN for anything else). */
export function seconds(hhmmss) {
  const m = /^(\d{2}):(\d{2}):(\d{2})$/.exec(hhmmss ?? '');
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : NaN;
}

/** waitCountdownBelow waits until the page's #countdown shows less than `than` seconds. */
export async function waitCountdownBelow(page, than, timeoutMs = 20_000) {
  await page.waitForFunction(
    (limit) => {
      const m = /^(\d{2}):(\d{2}):(\d{2})$/.exec(document.querySelector('#countdown')?.textContent ?? '');
      return m && Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) < limit;
    },
    than,
    { timeout: timeoutMs, polling: 50 },
  );
  return page.textContent('#countdown');
}
