// Starts the real sessiond binary (built once by global-setup.ts) on a free
// loopback port and a fresh SQLite file, and sets up tenants and users over
// plain HTTP with the admin key. `-time-scale` is a TESTS-ONLY flag: the
// server's clock runs that many times faster than real time.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

export const PASSWORD = 'correct horse battery staple';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Polls cond until it holds, failing with what after ms. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface ServerOptions {
  timeScale?: number;
  expiringSoon?: string;
  args?: string[];
}

export interface User {
  id: string;
  email: string;
  tenantId: string;
}

export class Sessiond {
  proc!: ChildProcess;
  dir = '';
  base = '';
  graphql = '';
  adminKey = 'sdk_admin_' + randomBytes(32).toString('base64url');
  log: string[] = [];
  private uniq = 0;

  static async start(opts: ServerOptions = {}): Promise<Sessiond> {
    const s = new Sessiond();
    await s.run(opts);
    return s;
  }

  private async run(opts: ServerOptions): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'sessiond-sdk-'));
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.graphql = `${this.base}/graphql`;
    const args = ['-addr', `127.0.0.1:${port}`, '-db', join(this.dir, 'sessiond.db'), '-log-level', 'debug'];
    if (opts.timeScale) args.push('-time-scale', String(opts.timeScale));
    if (opts.expiringSoon) args.push('-expiring-soon', opts.expiringSoon);
    args.push(...(opts.args ?? []));
    this.proc = spawn(inject('sessiondBinary'), args, {
      cwd: this.dir,
      env: { ...process.env, SESSIOND_ADMIN_KEY: this.adminKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (b: Buffer) => this.log.push(b.toString()));
    this.proc.stderr!.on('data', (b: Buffer) => this.log.push(b.toString()));
    let exited: unknown = null;
    this.proc.on('exit', (code, signal) => (exited = { code, signal }));
    await waitFor(
      'sessiond to answer /healthz',
      async () => {
        if (exited) throw new Error(`sessiond exited during start-up ${JSON.stringify(exited)}:\n${this.logTail()}`);
        try {
          return (await fetch(`${this.base}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      15_000,
    );
  }

  logTail(lines = 40): string {
    return this.log.join('').split('\n').slice(-lines).join('\n');
  }

  /** How many websocket upgrades the server has logged (status 101 on /graphql). */
  upgrades(): number {
    return this.log
      .join('')
      .split('\n')
      .filter((l) => l.includes('path=/graphql') && l.includes('status=101')).length;
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const done = new Promise((r) => this.proc.on('exit', r));
      this.proc.kill('SIGTERM');
      await Promise.race([done, sleep(5000)]);
      this.proc.kill('SIGKILL');
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** A GraphQL request; throws with the errors unless ok. */
  async gql<T = any>(query: string, variables: Record<string, unknown> = {}, token: string | null = this.adminKey): Promise<T> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token) headers['Authorization'] = `Bearer ${token}`;
    const res = await fetch(this.graphql, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}\nquery: ${query}`);
    return body.data as T;
  }

  unique(what: string): string {
    return `${what}-${process.pid}-${++this.uniq}-${randomBytes(3).toString('hex')}`;
  }

  async tenant(name = 'acme'): Promise<string> {
    const d = await this.gql('mutation($n: String!) { createTenant(input: {name: $n}) { id } }', { n: this.unique(name) });
    return d.createTenant.id;
  }

  async user(tenantId: string, name = 'user', roleKeys: string[] | null = null): Promise<User> {
    const email = `${this.unique(name)}@example.com`;
    const d = await this.gql(
      `mutation($email: String!, $name: String!, $password: String, $tenantId: ID!, $roleKeys: [String!]) {
        createUser(input: {email: $email, name: $name, password: $password, tenantId: $tenantId, roleKeys: $roleKeys}) { id } }`,
      { email, name, password: PASSWORD, tenantId, roleKeys },
    );
    return { id: d.createUser.id, email, tenantId };
  }

  /** Turns the portal switches on and lets the admin role revoke others' sessions. */
  async portalOn(): Promise<void> {
    await this.gql('mutation { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["admin"]) { key } }');
    await this.gql('mutation { updateAdminPortal(input: {privacyAndSecurity: true, users: true, security: true}) { users } }');
  }

  async policy(tenantId: string, input: Record<string, unknown>): Promise<void> {
    await this.gql('mutation($t: ID, $in: SessionPolicyInput!) { updateSessionPolicy(tenantId: $t, input: $in) { terminatedSessions } }', {
      t: tenantId,
      in: input,
    });
  }

  /** A session minted with the admin key, as a back end would (createSession). */
  async mint(u: User): Promise<{ token: string; id: string }> {
    const d = await this.gql('mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token session { id } } }', {
      u: u.id,
      t: u.tenantId,
    });
    return { token: d.createSession.token, id: d.createSession.session.id };
  }

  async live(token: string): Promise<boolean> {
    const res = await fetch(this.graphql, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, 'X-Session-Activity': 'passive' },
      body: JSON.stringify({ query: '{ me { session { id } } }' }),
    });
    const body = (await res.json()) as { errors?: unknown[] };
    return !body.errors?.length;
  }
}

/**
 * A TCP proxy in front of the server that a test can cut (every connection
 * dropped, new ones refused) and restore: a network outage or a sleeping
 * laptop, seen from the client.
 */
export class Outage {
  private server: NetServer | null = null;
  private sockets = new Set<Socket>();
  private tunnels: { client: Socket; upstream: Socket; websocket: boolean }[] = [];
  port = 0;

  constructor(private readonly target: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/graphql`;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const srv = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      const t = { client, upstream, websocket: false };
      this.tunnels.push(t);
      client.once('data', (b: Buffer) => {
        t.websocket = /^upgrade:\s*websocket/im.test(b.toString('latin1'));
      });
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (srv.address() as { port: number }).port;
    this.server = srv;
  }

  /**
   * Stops forwarding on open websockets without closing them: a connection
   * that died silently (NAT timeout, sleep), which the client still thinks
   * is up. Plain HTTP keeps working.
   */
  stallWebsockets(): void {
    for (const t of this.tunnels) {
      if (!t.websocket) continue;
      t.client.unpipe(t.upstream);
      t.upstream.unpipe(t.client);
      t.client.pause();
      t.upstream.pause();
    }
  }

  async down(): Promise<void> {
    const srv = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.tunnels = [];
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}
