#!/usr/bin/env node
// Cross-check of tickcast-bench with an independent client stack: the npm `ws` and
// `eventsource` clients, spread over several Node worker processes, against one
// tickcast-server that this script starts (as tickcast-bench does) or one already running.
//
//   node bench/crosscheck/crosscheck.mjs --server build/default/examples/pomodoro-server/tickcast-server \
//        --transport ws --clients 10000 --workers 2 --duration 15 [--runs 3] [--json out.json]
//        [--sse-client eventsource|raw] [--pin]
//
// Per run: start the server (--transport T --tick-ms 1000 --work 24h --max-clients N+16
// --data-dir none, as tickcast-bench does),
// connect every client (at most --in-flight at once per worker), POST start, let the timer
// tick for a second, then count the ticks produced during --duration seconds: latency =
// receipt time - server_time_us (one system clock), seq gaps = lost. Server CPU is
// utime+stime of the server from /proc over the window. With --runs K it prints each run
// and the median and range of p50, p99 and CPU. --pin splits the CPUs as tickcast-bench
// --pin does: the server on every CPU but the last, the workers on the last (taskset).
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const usage = `usage: node bench/crosscheck/crosscheck.mjs (--server PATH | --target URL [--server-pid PID])
  [--transport ws|sse] [--sse-client eventsource|raw] [--clients N] [--workers W]
  [--duration S] [--runs K] [--tick-ms MS] [--in-flight N] [--room NAME] [--json FILE] [--pin]`;
const text = { type: 'string' };
let args;
try {
  ({ values: args } = parseArgs({
    options: {
      server: text, target: text, 'server-pid': text, transport: text, 'sse-client': text,
      clients: text, workers: text, duration: text, runs: text, 'tick-ms': text,
      'in-flight': text, room: text, json: text, pin: { type: 'boolean' }, help: { type: 'boolean' },
    },
  }));
} catch (error) {
  console.error(`crosscheck: ${error.message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const fail = (message) => {
  console.error(`crosscheck: ${message}\n${usage}`);
  process.exit(2);
};
if (!args.server && !args.target) fail('--server or --target is required');
const cpus = availableParallelism();
if (args.pin && cpus < 2) {
  console.error('crosscheck: --pin needs 2 CPUs');
  process.exit(77);  // ctest's skip code for the pinned test
}
// taskset's CPU list for the server (every CPU but the last) and for the workers (the last).
const serverCpus = cpus > 2 ? `0-${cpus - 2}` : '0';
const clientCpu = String(cpus - 1);
const transport = args.transport ?? 'ws';
const clients = Number(args.clients ?? 1000);
const workers = Number(args.workers ?? 2);
const duration = Number(args.duration ?? 15);
const runs = Number(args.runs ?? 1);
const tickMs = Number(args['tick-ms'] ?? 1000);
const inFlight = Number(args['in-flight'] ?? 100);
const room = args.room ?? 'crosscheck';
const sseClient = args['sse-client'] ?? 'eventsource';  // or 'raw': node:net sockets
if (!['ws', 'sse'].includes(transport)) fail(`--transport ${transport}: ws or sse`);
if (!['eventsource', 'raw'].includes(sseClient)) fail(`--sse-client ${sseClient}: eventsource or raw`);
for (const [name, value] of [['clients', clients], ['workers', workers], ['duration', duration], ['runs', runs],
  ['tick-ms', tickMs], ['in-flight', inFlight]]) {
  if (!(value > 0)) fail(`--${name} must be a positive number`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const allowedCpus = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)[1];

function cpuSeconds(pid) {
  if (!pid) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime + stime, in ticks of 10 ms
}

async function startServer() {
  if (args.target) return { base: args.target, pid: Number(args['server-pid'] ?? 0), stop() {} };
  const port = await freePort();
  const serverArgs = [args.server, '--transport', transport, '--host', '127.0.0.1', '--port', String(port),
    '--mqtt-port', String(await freePort()), '--tick-ms', String(tickMs), '--work', '24h',
    '--max-clients', String(clients + 16), '--data-dir', 'none'];
  // taskset execs the server, so the child's pid is the server's (its CPU is read from /proc).
  const command = args.pin ? ['taskset', '-c', serverCpus, ...serverArgs] : serverArgs;
  const child = spawn(command[0], command.slice(1), { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  let up = false;
  for (let i = 0; i < 100 && !up && child.exitCode === null; i++) {
    try {
      up = (await fetch(`${base}/healthz`)).ok;
    } catch {}
    if (!up) await sleep(100);
  }
  if (!up) {
    child.kill('SIGKILL');
    throw new Error(`${args.server} did not answer /healthz on port ${port} (exit code ${child.exitCode})`);
  }
  return { base, pid: child.pid, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

async function oneRun(run) {
  const server = await startServer();
  const command = (type) => fetch(`${server.base}/api/rooms/${room}/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type }) });
  const procs = [];
  const connectStart = Date.now();
  for (let w = 0; w < workers; w++) {
    const share = Math.floor(clients / workers) + (w < clients % workers ? 1 : 0);
    // With --pin, taskset runs node on the last CPU; the IPC channel passes through its exec.
    const pinned = args.pin ? { execPath: 'taskset', execArgv: ['-c', clientCpu, process.execPath] } : {};
    procs.push(fork(join(here, 'worker.mjs'),
      [JSON.stringify({ transport, base: server.base, room, clients: share, inFlight, sseClient })], pinned));
  }
  const once = (p, type) => new Promise((r) => p.on('message', (m) => m.type === type && r(m)));
  const connected = await Promise.all(procs.map((p) => once(p, 'connected')));
  const connectS = (Date.now() - connectStart) / 1000;
  if (args.pin) {
    // Where the processes may run, as /proc has it: a run on the wrong CPUs is no measurement.
    const serverAllowed = server.pid ? allowedCpus(server.pid) : serverCpus;
    const wrong = [serverAllowed !== serverCpus && `server on ${serverAllowed}, not ${serverCpus}`,
      ...connected.map((c, w) => c.cpus !== clientCpu && `worker ${w} on ${c.cpus}, not ${clientCpu}`)].filter(Boolean);
    if (wrong.length > 0) {
      for (const p of procs) p.kill();
      await server.stop();
      throw new Error(`--pin did not hold: ${wrong.join('; ')}`);
    }
  }
  await command('start');
  await sleep(tickMs + 200);  // the first ticks reach everyone before the window opens
  const from = nowUs();
  const to = from + duration * 1e6;
  for (const p of procs) p.send({ type: 'window', from, to });
  const cpu0 = cpuSeconds(server.pid);
  await sleep(duration * 1000);
  const cpu1 = cpuSeconds(server.pid);
  await sleep(Math.max(2000, tickMs * 2));  // the window's last ticks arrive
  const reports = await Promise.all(procs.map((p) => { const r = once(p, 'report'); p.send({ type: 'report' }); return r; }));
  await command('stop');
  for (const p of procs) p.send({ type: 'close' });
  await Promise.all(procs.map((p) => new Promise((r) => p.on('exit', r))));
  await server.stop();
  const samples = Float64Array.from(reports.flatMap((r) => r.samples)).sort();
  const result = {
    run, transport, sse_client: transport === 'sse' ? sseClient : undefined, clients, workers, duration,
    tick_ms: tickMs, pinned: Boolean(args.pin), connect_s: connectS,
    opened: connected.reduce((a, c) => a + c.opened, 0), failed: connected.reduce((a, c) => a + c.failed, 0),
    samples: samples.length, expected: Math.round((duration * 1000) / tickMs) * clients,
    p50_ms: percentile(samples, 50) / 1000, p90_ms: percentile(samples, 90) / 1000,
    p99_ms: percentile(samples, 99) / 1000, max_ms: samples.length ? samples[samples.length - 1] / 1000 : NaN,
    lost: reports.reduce((a, r) => a + r.lost, 0), duplicated: reports.reduce((a, r) => a + r.duplicated, 0),
    server_cpu_s: cpu1 - cpu0, server_cpu_pct: (100 * (cpu1 - cpu0)) / duration,
    // per worker, % of one core from the window's start to the report (window + drain)
    client_cpu_pct: reports.map((r) => (100 * r.cpu_s) / (duration + Math.max(2, (tickMs * 2) / 1000))),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  };
  return result;
}

const fmt = (r) => `${r.transport}${r.transport === 'sse' ? ` (${sseClient})` : ''} N=${r.clients} run ${r.run}: connect ${r.connect_s.toFixed(2)} s, ` +
  `p50 ${r.p50_ms.toFixed(1)} ms, p90 ${r.p90_ms.toFixed(1)}, p99 ${r.p99_ms.toFixed(1)}, max ${r.max_ms.toFixed(1)}, ` +
  `clients ${r.opened} (failed ${r.failed}), ticks ${r.samples} (~${r.expected} due), lost ${r.lost}, dup ${r.duplicated}, server CPU ${r.server_cpu_s.toFixed(2)} s ` +
  `(${r.server_cpu_pct.toFixed(1)}%), client workers ${r.client_cpu_pct.map((c) => c.toFixed(0) + '%').join(' ')}, load ${r.load}`;

const results = [];
for (let run = 1; run <= runs; run++) {
  const r = await oneRun(run);
  console.log(fmt(r));
  results.push(r);
}
if (runs > 1) {
  const med = (key) => { const v = results.map((r) => r[key]).sort((a, b) => a - b); return [v[Math.floor(v.length / 2)], v[0], v[v.length - 1]]; };
  for (const key of ['p50_ms', 'p99_ms', 'server_cpu_pct']) {
    const [m, lo, hi] = med(key);
    console.log(`${key}: median ${m.toFixed(1)} (range ${lo.toFixed(1)}-${hi.toFixed(1)})`);
  }
}
if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
// A run whose clients did not all connect, or that lost, repeated or missed ticks (more
// than the one tick of each client the window's edges may cut), is not a measurement.
const incomplete = results.filter((r) => r.failed > 0 || r.opened < clients || r.lost > 0 ||
  r.duplicated > 0 || r.samples < r.expected - clients);
if (incomplete.length > 0) {
  console.error(`crosscheck: ${incomplete.length} of ${results.length} runs incomplete (clients failed, ticks lost, repeated or missing)`);
  process.exitCode = 1;
}
