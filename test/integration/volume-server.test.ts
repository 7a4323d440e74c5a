import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdir, readdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer(options);
  servers.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function readyz(s: TestServer) {
  const response = await s.get('/readyz');
  return { status: response.status, body: await response.json() };
}

describe('a user pod following a kubelet-mounted ConfigMap', () => {
  it('flips readiness on and off with each swap, without a restart', async () => {
    const s = await server();
    await s.waitForReady(200);
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready' } });

    await s.write({ MAINTENANCE_MODE: 'true' });
    await s.waitForReady(503);
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'maintenance' } });
    const page = await s.get('/');
    expect(page.status).toBe(503);

    await s.write({ MAINTENANCE_MODE: 'false' });
    await s.waitForReady(200);
    expect((await s.get('/')).status).toBe(200);
  });

  it('picks up a key that is added and forgets one that is removed', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'true' } });
    await s.waitForReady(503);

    await s.write({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Upgrading the database' });
    await waitFor('the new message', async () =>
      ((await s.status()).config as { message: string }).message === 'Upgrading the database' ? true : undefined,
    );
    expect(await (await s.get('/')).text()).toContain('Upgrading the database');

    await s.write({ MAINTENANCE_MESSAGE: 'Upgrading the database' });
    await s.waitForReady(200);
    expect(await readdir(s.dir)).not.toContain('MAINTENANCE_MODE');
  });

  it('ends in the state of the last write after 200 swaps in a row', async () => {
    const s = await server();
    let last = '';
    for (let i = 0; i < 200; i++) {
      last = `message ${i}`;
      await s.write({ MAINTENANCE_MODE: i % 2 === 0 ? 'true' : 'false', MAINTENANCE_MESSAGE: last });
    }
    // 200 writes: the last one (i = 199) switched maintenance off.
    const status = await waitFor('the last write to be applied', async () => {
      const current = await s.status();
      return (current.config as { message: string }).message === last ? current : undefined;
    });
    expect(status).toMatchObject({ maintenance: false, lastError: null, config: { enabled: false, message: last } });
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready' } });
    expect((await readdir(s.dir)).filter((name) => name.startsWith('..2'))).toHaveLength(1);
  });

  it('keeps the last good state on an invalid value and says why in /status, the metrics and the page', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'good' } });
    await s.waitForReady(503);

    await s.write({ MAINTENANCE_MODE: 'maybe', MAINTENANCE_MESSAGE: 'bad' });
    const status = await waitFor('the error in /status', async () => {
      const current = await s.status();
      return current.lastError !== null ? current : undefined;
    });
    // /status is public: it names the key, never the rejected value (that goes to the log).
    expect(status.lastError).toBe('MAINTENANCE_MODE: must be "true", "false" or "read-only"');
    expect(status).toMatchObject({ maintenance: true, config: { enabled: true, message: 'good' } });
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'maintenance' } });
    const metrics = await (await s.get('/metrics')).text();
    expect(metrics).toMatch(/^config_reloads_total\{result="error"\} 1$/m);
    expect(metrics).toMatch(/^config_reloads_total\{result="success"\} 1$/m);
    expect(metrics).toMatch(/^config_last_reload_success 0$/m);
    expect(metrics).toMatch(/^maintenance_active 1$/m);
    expect(metrics).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/readyz",status_code="503"\} [1-9]\d*$/m);
    expect(metrics).toMatch(
      /^http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/status",status_code="200"\} [1-9]\d*$/m,
    );
    await s.get('/no/such/page/12345');
    const later = await (await s.get('/metrics')).text();
    expect(later).toMatch(/route="other",status_code="503"/);
    expect(later).not.toContain('12345');

    await s.write({ MAINTENANCE_MODE: 'false' });
    await s.waitForReady(200);
    expect((await s.status()).lastError).toBeNull();
  });

  it('waits, not ready, for a directory that appears late', async () => {
    const root = await makeTempDir();
    const dir = join(root, 'not-yet', 'app-config');
    const s = await server({ initial: null, dir });
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'starting' } });
    expect(await s.status()).toMatchObject({ volume: { watch: 'waiting', waitingFor: 'the directory does not exist yet' } });

    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    await s.waitForReady(200);
    await s.write({ MAINTENANCE_MODE: 'true' });
    await s.waitForReady(503);
  });

  it('follows a hand edit through a key link, and refuses a file written over one until the tools write again', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'before' } });
    await s.waitForReady(200);
    // `echo true > dir/MAINTENANCE_MODE`, or an editor saving in place: through the link, into ..data.
    await writeFile(join(s.dir, 'MAINTENANCE_MODE'), 'true');
    await s.waitForReady(503);

    // `sed -i` and editors that save by rename put a file of their own where the link was.
    await unlink(join(s.dir, 'MAINTENANCE_MESSAGE'));
    await writeFile(join(s.dir, 'MAINTENANCE_MESSAGE'), 'by hand');
    const refused = await waitFor('the hand-written file refused', async () => {
      const current = (await s.status()) as { lastError: string | null };
      return current.lastError !== null ? current.lastError : undefined;
    });
    expect(refused).toContain('MAINTENANCE_MESSAGE is a file written over the link into ..data');
    expect(await readyz(s)).toMatchObject({ status: 503 });

    // The next write by the tools puts the link back, and the directory is followed again.
    await s.write({ MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'after' });
    await s.waitForReady(200);
    expect((await s.status()).lastError).toBeNull();
  });

  it('follows plain files written in place, as a local setup writes them', async () => {
    const dir = await makeTempDir();
    const s = await server({ initial: null, dir });
    await writeFile(join(dir, 'MAINTENANCE_MODE'), 'false');
    await s.waitForReady(200);
    await writeFile(join(dir, 'MAINTENANCE_MODE'), 'true\n');
    await s.waitForReady(503);
    // An editor's save: write a temp file and rename it over the key.
    await writeFile(join(dir, '.MAINTENANCE_MODE.tmp'), 'false');
    await rename(join(dir, '.MAINTENANCE_MODE.tmp'), join(dir, 'MAINTENANCE_MODE'));
    await s.waitForReady(200);
  });

  it('keeps the last good state when the directory disappears, and recovers when it returns', async () => {
    const root = await makeTempDir();
    const dir = join(root, 'app-config');
    const s = await server({ initial: { MAINTENANCE_MODE: 'true' }, dir });
    await s.waitForReady(503);
    await rename(dir, join(root, 'moved-away'));
    const status = await waitFor('the vanished directory to be reported', async () => {
      const current = await s.status();
      return current.lastError !== null ? current : undefined;
    });
    expect(status.lastError).toContain('does not exist');
    expect(status.maintenance).toBe(true);
    await mkdir(dir);
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    await s.waitForReady(200);
  });
});

describe('the admin role', () => {
  it('stays ready whatever the config says, even before any config', async () => {
    const s = await server({ role: 'admin', initial: null, env: { CONFIG_WRITER: 'directory' } });
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready' } });
    await s.write({ MAINTENANCE_MODE: 'true' });
    await waitFor('maintenance in /status', async () => ((await s.status()).maintenance === true ? true : undefined));
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready' } });
    expect((await s.get('/')).status).toBe(200);
    expect((await s.get('/ready')).status).toBe(200);
  });
});

describe('the page role (the fallback behind a shared public Service)', () => {
  it('is ready exactly while maintenance is on, and answers every path with the maintenance page', async () => {
    const s = await server({ role: 'page', initial: { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'Down for an upgrade' } });
    await s.waitForReady(503);
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'not_in_maintenance' } });

    await s.write({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Down for an upgrade' });
    await s.waitForReady(200);
    for (const path of ['/', '/shop/cart', '/api/x']) {
      const response = await s.get(path);
      expect(response.status, path).toBe(503);
      expect(response.headers.get('retry-after')).toBe('300');
      expect(await response.text()).toContain('Down for an upgrade');
    }
    expect((await s.get('/admin')).status).toBe(404);
    expect((await s.get('/admin/api/maintenance')).status).toBe(404);
  });

  it('keeps no connection while out of the Service: a client kept alive on it reconnects to the app once maintenance ends', async () => {
    const s = await server({ role: 'page', initial: { MAINTENANCE_MODE: 'true' } });
    await s.waitForReady(200);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const inService = await keptAliveGet(`${s.url}/`, agent);
      expect(inService).toEqual({ status: 503, connection: 'keep-alive' });

      await s.write({ MAINTENANCE_MODE: 'false' });
      await s.waitForReady(503);
      const outOfService = await keptAliveGet(`${s.url}/shop`, agent);
      expect(outOfService).toEqual({ status: 503, connection: 'close' });
    } finally {
      agent.destroy();
    }
  });
});

/** A GET on a keep-alive agent: its status and the Connection header the server answered with. */
function keptAliveGet(url: string, agent: Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }));
    })
      .on('error', reject)
      .end();
  });
}

describe('the maintenance response', () => {
  it('answers HTML with Retry-After and no-store, carrying the message escaped', async () => {
    const s = await server({
      initial: { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back <b>soon</b>', MAINTENANCE_RETRY_AFTER: '120' },
    });
    await s.waitForReady(503);
    const response = await s.get('/some/page', { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('120');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const body = await response.text();
    expect(body).toContain('Back &lt;b&gt;soon&lt;/b&gt;');
    expect(body).not.toContain('<b>soon</b>');
  });

  it('answers JSON when the client prefers it', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon' } });
    await s.waitForReady(503);
    const response = await s.get('/api/orders', { headers: { Accept: 'text/html;q=0.5, application/json' } });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('300');
    expect(await response.json()).toEqual({ status: 'maintenance', message: 'Back soon', retryAfterSeconds: 300 });
    const html = await s.get('/api/orders', { headers: { Accept: 'text/html, application/json;q=0.9' } });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('keeps serving the allowed prefixes, the probes, /status and /metrics', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'true', MAINTENANCE_ALLOW_PATHS: '/,/nothing-else' } });
    await s.waitForReady(503);
    expect((await s.get('/')).status).toBe(200);

    await s.write({ MAINTENANCE_MODE: 'true', MAINTENANCE_ALLOW_PATHS: '/api/health' });
    await waitFor('the gate to close /', async () => ((await s.get('/')).status === 503 ? true : undefined));
    expect((await s.get('/api/health')).status).toBe(404); // allowed through, and the app has no such route
    expect((await s.get('/api/healthz')).status).toBe(503);
    for (const path of ['/livez', '/health', '/status', '/metrics']) {
      expect((await s.get(path)).status, path).toBe(200);
    }
  });

  it('opens and closes a window by the clock, counting Retry-After down to the end', async () => {
    const s = await server();
    await s.waitForReady(200);
    const flips: boolean[] = [];
    s.state.onChange((view, previous) => {
      if (view.active !== previous.active) flips.push(view.active);
    });
    const start = new Date(Date.now() + 1500);
    const end = new Date(start.getTime() + 3000);
    await s.write({ MAINTENANCE_START: start.toISOString(), MAINTENANCE_END: end.toISOString() });
    await waitFor('the window config', async () => ((await s.status()).nextChangeAt !== null ? true : undefined));

    // No request is made while waiting: only the timer can flip the state.
    await waitFor('the window to open', () => (flips.length >= 1 ? true : undefined), { intervalMs: 5 });
    const during = await s.get('/', { headers: { Accept: 'application/json' } });
    const body = (await during.json()) as { retryAfterSeconds: number };
    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBe(body.retryAfterSeconds);
    expect(body.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(body.retryAfterSeconds).toBeLessThanOrEqual(3);
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'maintenance' } });

    await waitFor('the window to close', () => (flips.length >= 2 ? true : undefined), { intervalMs: 5 });
    expect(flips).toEqual([true, false]);
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready' } });
  });
});

describe('keys that are not regular files', () => {
  it('rejects a key symlinked to a FIFO, naming the key, without blocking later reads', async () => {
    const root = await makeTempDir();
    const dir = join(root, 'plain');
    await mkdir(dir);
    await writeFile(join(dir, 'MAINTENANCE_MODE'), 'true');
    const s = await server({ initial: null, dir });
    await s.waitForReady(503);

    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await symlink(fifo, join(dir, 'EXTRA_KEY'));
    const status = await waitFor('the FIFO to be reported', async () => {
      const current = await s.status();
      return current.lastError !== null ? current : undefined;
    });
    expect(status.lastError).toContain('key EXTRA_KEY is not a regular file (a FIFO)');

    // The reader is not stuck: a later valid change is applied.
    await unlink(join(dir, 'EXTRA_KEY'));
    await writeFile(join(dir, 'MAINTENANCE_MODE'), 'false');
    await s.waitForReady(200);
    expect((await s.status()).lastError).toBeNull();
  });

  it('refuses a swap whose keys add up to more than a ConfigMap holds, keeping the last good state, without reading it whole', async () => {
    const s = await server({ initial: { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'good' } });
    await s.waitForReady(503);
    // 40 keys of 512 KiB: 20 MiB that no kubelet writes for a ConfigMap.
    const huge: Record<string, string> = { MAINTENANCE_MODE: 'false' };
    for (let index = 0; index < 40; index++) huge[`PADDING_${String(index).padStart(2, '0')}`] = 'x'.repeat(512 * 1024);
    await s.write(huge);
    const status = await waitFor('the oversized swap to be reported', async () => {
      const current = await s.status();
      return current.lastError !== null ? current : undefined;
    });
    expect(status.lastError).toContain('more than 1 MiB');
    expect(status).toMatchObject({ maintenance: true, config: { enabled: true, message: 'good' } });
    await s.write({ MAINTENANCE_MODE: 'false' });
    await s.waitForReady(200);
    expect((await s.status()).lastError).toBeNull();
  });

  it('rejects a MAINTENANCE_MODE that is a directory instead of reading it as off', async () => {
    const root = await makeTempDir();
    const dir = join(root, 'plain');
    await mkdir(join(dir, 'MAINTENANCE_MODE'), { recursive: true });
    await writeFile(join(dir, 'MAINTENANCE_MESSAGE'), 'hello');
    const s = await server({ initial: null, dir });
    const status = await waitFor('the directory to be reported', async () => {
      const current = await s.status();
      return current.lastError !== null ? current : undefined;
    });
    expect(status.lastError).toContain('key MAINTENANCE_MODE is not a regular file (a directory)');
    expect(status.config).toBeNull();
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', reason: 'starting' } });
  });
});
