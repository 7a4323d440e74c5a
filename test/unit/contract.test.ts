import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ConfigWrite, ConfigWriter, StoredConfig } from '../../src/config/writer.ts';
import { createAdminApp } from '../../src/http/admin/app.ts';
import { CachedAuth, noAuth } from '../../src/http/admin/auth.ts';
import { openApiDocument, ROUTES } from '../../src/http/admin/contract.ts';
import { TrustedProxies } from '../../src/http/client-address.ts';
import { checkContract } from '../helpers/contract.ts';
import { validOpenApi } from '../helpers/openapi.ts';

/** A writer with one empty config: what the routes do is not the point here, only which there are. */
class EmptyWriter implements ConfigWriter {
  readonly target = 'memory';
  isWellFormedVersion = () => true;
  async read(): Promise<StoredConfig> {
    return { data: {}, version: '1', audit: { changedBy: null, changedAt: null, reason: null }, readOnlyRefused: null };
  }
  async write(_change: ConfigWrite): Promise<StoredConfig> {
    return this.read();
  }
  async history() {
    return [];
  }
}

const app = createAdminApp({
  auth: new CachedAuth(noAuth()),
  writer: new EmptyWriter(),
  log: pino({ level: 'silent' }),
  registry: new Registry(),
  trustedProxies: new TrustedProxies([]),
  maxBodyBytes: 16 * 1024,
  authAttemptsPerMinute: 30,
});

describe('the admin API contract', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(await validOpenApi(openApiDocument())).toEqual([]);
  });

  it('names every route the admin app mounts, and no other (the panel and its assets aside)', () => {
    const mounted = app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method} ${`/admin${route.path}`.replace(/\/$/, '')}`)
      .filter((route) => !/^GET \/admin(\/assets\/.*)?$/.test(route));
    expect([...new Set(mounted)].sort()).toEqual(Object.keys(ROUTES).sort());
    const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
    for (const route of Object.keys(ROUTES)) {
      const [method, path] = route.split(' ') as [string, string];
      expect(paths[path]?.[method.toLowerCase()], route).toBeDefined();
    }
  });

  it('is served at /admin/api/openapi.json, with no sign-in', async () => {
    const response = await checkContract(
      'GET',
      '/admin/api/openapi.json',
      await app.request('/api/openapi.json', { headers: { Host: 'localhost' } }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(openApiDocument());
  });

  it('fails an answer with a field it does not describe, one missing, a wrong status, and an error that is not an ApiError', async () => {
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    const entry = { at: '2026-12-07T00:00:00.000Z', by: 'alice', reason: null, what: 'switch on', outside: false };
    await expect(checkContract('GET', '/admin/api/history', json({ changes: [entry] }))).resolves.toBeInstanceOf(Response);
    await expect(checkContract('GET', '/admin/api/history', json({ changes: [{ ...entry, token: 'x' }] }))).rejects.toThrow(
      /does not describe/,
    );
    await expect(checkContract('GET', '/admin/api/history', json({}))).rejects.toThrow(/does not describe/);
    await expect(checkContract('GET', '/admin/api/history', json({ changes: [] }, 201))).rejects.toThrow(/the contract says 200/);
    await expect(checkContract('GET', '/admin/api/history', json({ oops: true }, 500))).rejects.toThrow(/not an ApiError/);
    await expect(checkContract('GET', '/admin/api/unknown', json({}))).rejects.toThrow(/not in the contract/);
  });
});
