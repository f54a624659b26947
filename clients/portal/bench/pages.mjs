// Weight and first render of each page, on loopback, in Debian's headless
// Chromium: `npm run bench` in clients/portal (builds the server unless
// SESSIOND_BIN names one; RUNS= sets the number of cold loads per page).
//
// Weight is the bytes on the wire (gzip, as the server sends them) of
// everything the page loads, from one load watched through the DevTools
// protocol. First render is timed in the page itself, on loads nothing
// watches: from navigation start (performance.timeOrigin) to the first
// animation frame in which the page's first screen (the sign-in form of
// <sessiond-login> or of the console) is in the DOM, i.e. the frame that
// paints it. An init script polls on every frame; no DevTools round trip is
// inside the figure. The floor is the same measure for a page with no
// script (the server's /healthz text): what the browser itself needs to
// show anything on this machine.
import { startServer, launch } from '../test/harness.mjs';
import { loadavg, cpus } from 'node:os';

const RUNS = Number(process.env.RUNS || 15);
const pages = [
  { path: '/healthz', ready: 'document.body && document.body.textContent.length > 0', note: 'floor: plain text, no script' },
  { path: '/portal/', ready: "!!document.querySelector('sessiond-login')?.shadowRoot?.querySelector('form')" },
  { path: '/console/', ready: "!!document.querySelector('sessiond-console')?.shadowRoot?.querySelector('form')" },
  { path: '/', ready: "!!document.querySelector('.graphiql-container .CodeMirror')", note: 'GraphiQL, outside the 100 KB budget' },
];

function initScript(ready) {
  // Runs before the page's own scripts, in every frame of a new document.
  return `(() => {
    const tick = () => {
      if (${ready}) { window.__sessiondReady = performance.now(); return; }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })();`;
}

async function weigh(browser, url) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  let wire = 0;
  let n = 0;
  cdp.on('Network.loadingFinished', (e) => { wire += e.encodedDataLength; n++; });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForTimeout(500); // late requests are counted too
  await ctx.close();
  return { wire, n };
}

async function firstRender(browser, url, ready) {
  const ctx = await browser.newContext(); // empty cache every run
  const page = await ctx.newPage();
  await page.addInitScript({ content: initScript(ready) });
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.__sessiondReady !== undefined, null, { timeout: 10000 });
  const t = await page.evaluate(() => window.__sessiondReady);
  await ctx.close();
  return t;
}

const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(0);

console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(' ')} (${cpus().length} cores)`);
const server = await startServer();
const browser = await launch();
try {
  await firstRender(browser, server.url + '/healthz', pages[0].ready); // warm the browser up
  for (const pg of pages) {
    const { wire, n } = await weigh(browser, server.url + pg.path);
    const times = [];
    for (let i = 0; i < RUNS; i++) times.push(await firstRender(browser, server.url + pg.path, pg.ready));
    times.sort((a, b) => a - b);
    console.log(`${pg.path.padEnd(10)} ${String(n).padStart(3)} requests, ${(wire / 1024).toFixed(1).padStart(6)} KiB on the wire (gzip); first render p50 ${q(times, 0.5)} ms, p90 ${q(times, 0.9)} ms, max ${q(times, 1)} ms over ${RUNS} cold loads${pg.note ? ` (${pg.note})` : ''}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
