// Weight and first render of each page, on loopback, in Debian's headless
// Chromium: `npm run bench` in clients/portal (builds the server unless
// SESSIOND_BIN names one). Weight is the bytes on the wire (gzip, as the
// server sends them) of everything the page loads; first render is the time
// from navigation start until the page's first screen is in the DOM and
// painted (the sign-in form of <sessiond-login> or of the console).
import { startServer, launch } from '../test/harness.mjs';

const RUNS = Number(process.env.RUNS || 15);
const pages = [
  { path: '/portal/', ready: () => !!document.querySelector('sessiond-login')?.shadowRoot?.querySelector('form') },
  { path: '/console/', ready: () => !!document.querySelector('sessiond-console')?.shadowRoot?.querySelector('form') },
  { path: '/', ready: () => !!document.querySelector('.graphiql-container .CodeMirror'), note: 'GraphiQL, outside the 100 KB budget' },
];

const { loadavg } = await import('node:os');
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(' ')} (${(await import('node:os')).cpus().length} cores)`);
const server = await startServer();
const browser = await launch();
try {
  for (const pg of pages) {
    const times = [];
    const busy = [];
    let bytes = 0;
    let requests = 0;
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext(); // empty cache every run
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Performance.enable');
      let wire = 0;
      let n = 0;
      cdp.on('Network.loadingFinished', (e) => { wire += e.encodedDataLength; n++; });
      await page.goto(server.url + pg.path, { waitUntil: 'commit' });
      await page.waitForFunction(pg.ready, null, { polling: 'raf', timeout: 10000 });
      const t = await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(performance.now()))));
      // Main-thread busy time up to here: what the page costs, whatever else the machine does.
      const m = await cdp.send('Performance.getMetrics');
      busy.push(1000 * (m.metrics.find((x) => x.name === 'TaskDuration')?.value ?? 0));
      await page.waitForTimeout(300); // late requests, if any, are counted too
      times.push(t);
      if (i === 0) { bytes = wire; requests = n; }
      await ctx.close();
    }
    times.sort((a, b) => a - b);
    busy.sort((a, b) => a - b);
    const q = (p, xs = times) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(0);
    console.log(`${pg.path.padEnd(10)} ${String(requests).padStart(3)} requests, ${(bytes / 1024).toFixed(1)} KiB on the wire (gzip); first render p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms; main-thread work p50 ${q(0.5, busy)} ms over ${RUNS} cold loads${pg.note ? ` — ${pg.note}` : ''}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
