// A development server for the example: serves this folder and forwards
// /graphql (HTTP and websockets) and /sdk/ to sessiond, so the page, the
// API and the SDK share one origin as they would behind a reverse proxy.
//
//   go run . -demo              # sessiond on :8080
//   node examples/spa/serve.mjs # http://localhost:3000
//
// SESSIOND_URL (default http://127.0.0.1:8080) and PORT (default 3000) change the ends.
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
// No inline scripts anywhere: the example runs under this policy.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Starts the server (serving `root`, this folder by default); resolves to { url, close }. */
export function startDevServer({ target = 'http://127.0.0.1:8080', port = 3000, host = '127.0.0.1', root = here } = {}) {
  const up = new URL(target);
  const forwarded = (path) => path === '/graphql' || path.startsWith('/graphql?') || path.startsWith('/sdk/');
  const server = createServer(async (req, res) => {
    if (forwarded(req.url)) {
      const p = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      p.on('error', () => res.writeHead(502).end());
      req.pipe(p);
      return;
    }
    if (req.url === '/favicon.ico') return res.writeHead(204).end();
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path === '/' ? 'index.html' : path);
    const type = TYPES[extname(file)];
    if (!file.startsWith(root) || !type) return res.writeHead(404).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  const tunnels = new Set();
  // Websocket upgrades: replay the request head to sessiond, then pipe bytes.
  server.on('upgrade', (req, socket, head) => {
    tunnels.add(socket);
    if (!forwarded(req.url)) return socket.destroy();
    const u = connect(Number(up.port), up.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      u.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) u.write(head);
      socket.pipe(u).pipe(socket);
    });
    const drop = () => {
      tunnels.delete(socket);
      socket.destroy();
      u.destroy();
    };
    u.on('error', drop).on('close', drop);
    socket.on('error', drop).on('close', drop);
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      const { port: p } = server.address();
      resolve({
        url: `http://${host}:${p}`,
        close: () =>
          new Promise((r) => {
            for (const t of tunnels) t.destroy();
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await startDevServer({ target: process.env.SESSIOND_URL, port: Number(process.env.PORT ?? 3000), host: 'localhost' });
  console.log(`example app on ${s.url} (sessiond: ${process.env.SESSIOND_URL ?? 'http://127.0.0.1:8080'})`);
}
