// The cluster's "done when", in a browser: the page on two nodes of one cluster lists the
// nodes; the node that runs the timers is killed -9; on the other node's page the countdown
// goes on from its deadline (never back up, never ahead of the wall clock), without a
// reconnect, and the node list says who runs the timers now.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, openPage, seconds, startNats, startServer, statusLog, uniqueRoom, waitCountdownBelow, waitFor } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// roles reads the page's node list: { id: role or "down" }, and the node marked current.
const roles = (page) =>
  page.evaluate(() => ({
    current: document.querySelector('#cluster [aria-current]')?.dataset.node,
    of: Object.fromEntries([...document.querySelectorAll('#cluster [data-node]')].map((e) => [e.dataset.node, e.dataset.role])),
  }));

test('cluster: the node list, and the countdown across kill -9 of the node running the timer', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const flags = ['--transport', 'ws,sse,longpoll', '--tick-ms', '1000', '--cluster', nats.url];
  const a = await startServer(flags); // first: it takes the lease and runs every room's timer
  t.after(() => a.stop());
  const b = await startServer(flags);
  t.after(() => b.stop());
  assert.match(b.output(), /follower, the cluster lease is held by/);
  const idA = `127.0.0.1:${a.port}`;
  const idB = `127.0.0.1:${b.port}`;

  const context = await browser.newContext();
  t.after(() => context.close());
  const room = uniqueRoom('cluster');
  const pageB = await openPage(context, b, { room });
  await waitFor(
    async () => {
      const r = await roles(pageB);
      return r.current === idB && r.of[idA] === 'writer' && r.of[idB] === 'follower';
    },
    { what: `page on ${idB} to list ${idA} (writer) and itself (follower)` },
  );
  const linkToA = await pageB.getAttribute(`#cluster a[data-node="${idA}"]`, 'href');
  assert.equal(linkToA, `${a.url}/?room=${room}`, 'each node links to the same room on that node');

  await pageB.click('#start'); // a command on the follower, run by the writer
  const started = seconds(await pageB.textContent('#countdown'));
  await waitCountdownBelow(pageB, started);
  // Every value the page shows from now on, with the wall clock.
  await pageB.evaluate(() => {
    window.__shown = [];
    const el = document.querySelector('#countdown');
    const note = () => window.__shown.push({ at: Date.now(), text: el.textContent });
    note();
    new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
  });
  const logFrom = (await statusLog(pageB)).length;
  await a.killHard();

  await waitFor(async () => (await roles(pageB)).of[idB] === 'writer', { timeoutMs: 20_000, what: `${idB} to take over` });
  await waitFor(async () => (await roles(pageB)).of[idA] === 'down', { timeoutMs: 20_000, what: `${idA} to be shown down` });
  const atTakeover = seconds(await pageB.textContent('#countdown'));
  await waitCountdownBelow(pageB, atTakeover); // the new writer's first tick
  const resumed = seconds(await pageB.textContent('#countdown'));
  await waitCountdownBelow(pageB, resumed - 2); // and three more

  const shown = (await pageB.evaluate(() => window.__shown)).map((e) => ({ at: e.at, s: seconds(e.text) }));
  const first = shown[0];
  for (let i = 1; i < shown.length; i++) {
    assert.ok(shown[i].s <= shown[i - 1].s, `the countdown went back up: ${JSON.stringify(shown.slice(i - 1, i + 1))}`);
    // Never ahead of the deadline: a shown value is at least what the wall clock leaves
    // (a tick of 1 s and the display's whole seconds allowed).
    const leftByClock = first.s - (shown[i].at - first.at) / 1000;
    assert.ok(shown[i].s >= leftByClock - 2, `time lost or jumped ahead: ${shown[i].s} s shown, ${leftByClock.toFixed(1)} s left by the clock`);
  }
  const last = shown.at(-1);
  const leftByClock = first.s - (last.at - first.at) / 1000;
  assert.ok(last.s <= leftByClock + 2, `time gained across the takeover: ${last.s} s shown, ${leftByClock.toFixed(1)} s left by the clock`);
  const states = (await statusLog(pageB)).slice(logFrom).map((e) => e.state);
  assert.ok(!states.includes('reconnecting'), `the page on the surviving node stayed connected (shown: ${states.join(', ')})`);

  // The new writer runs commands itself.
  await pageB.click('#stop');
  await waitFor(async () => (await pageB.textContent('#running')) === 'paused', { what: 'the stop to show' });
});
