import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FallbackReadiness, httpStatusProbe } from '../../src/fleet/fallback.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

describe("the page tier's view of a real user pod", () => {
  let user: TestServer;
  beforeAll(async () => {
    user = await startTestServer({ role: 'user', env: { MAINTENANCE_READY_GRACE_SECONDS: '30' } });
  });
  afterAll(async () => {
    await user?.close();
  });

  it('sees a user pod in its grace as out of the application, while its readiness still passes', async () => {
    const fallback = new FallbackReadiness({
      clock: new FakeClock(0),
      endpoints: () => [{ pod: 'user-1', address: '127.0.0.1', port: user.port, state: 'serving', servicePod: true }],
      synced: () => true,
    });
    await fallback.poll();
    expect(fallback.ready).toBe(false);

    await user.write({ MAINTENANCE_MODE: 'true' });
    await waitFor('the user pod in maintenance', () => (user.state.current.active ? true : undefined));
    expect((await user.get('/readyz')).status).toBe(200); // the grace
    expect((await user.get('/')).status).toBe(503);
    await fallback.poll();
    expect(fallback.ready).toBe(true);
  });

  it('gets null from something that is not this service, or nothing at all', async () => {
    expect(await httpStatusProbe('127.0.0.1', 1)).toBeNull();
  });
});

describe('the page tier never waits long on one pod', () => {
  let trickler: Server;
  let port: number;
  beforeAll(async () => {
    // Answers /status one byte every 100 ms, for ever: alive, but never done.
    trickler = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    });
    trickler.listen(0, '127.0.0.1');
    await once(trickler, 'listening');
    port = (trickler.address() as AddressInfo).port;
  });
  afterAll(async () => {
    trickler?.closeAllConnections();
    await new Promise((resolve) => trickler?.close(resolve));
  });

  it('cuts a pod that trickles bytes at a total deadline, not an idle one', async () => {
    expect(await httpStatusProbe('127.0.0.1', port)).toBeNull();
  });

  it('keeps asking the other pods while one question hangs', async () => {
    const asked: string[] = [];
    let answerSlow: (value: boolean | null) => void = () => undefined;
    const clock = new FakeClock(0);
    const fallback = new FallbackReadiness({
      clock,
      synced: () => true,
      endpoints: () => [
        { pod: 'slow', address: '10.0.0.1', port: 8080, state: 'serving', servicePod: true },
        { pod: 'fast', address: '10.0.0.2', port: 8080, state: 'serving', servicePod: true },
      ],
      probe: (address) => {
        asked.push(address);
        return address === '10.0.0.1' ? new Promise((resolve) => (answerSlow = resolve)) : Promise.resolve(true);
      },
    });
    fallback.start();
    await new Promise((resolve) => setImmediate(resolve));
    for (let tick = 1; tick <= 3; tick++) {
      clock.advanceTo(tick * 1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    fallback.stop();
    // The fast pod asked at every tick; the slow one once, its question still open.
    expect(asked.filter((address) => address === '10.0.0.2')).toHaveLength(4);
    expect(asked.filter((address) => address === '10.0.0.1')).toHaveLength(1);
    answerSlow(true);
  });

  it("asks only the Service's own pods, never an address another slice names", async () => {
    const asked: string[] = [];
    const fallback = new FallbackReadiness({
      clock: new FakeClock(0),
      synced: () => true,
      endpoints: () => [
        { pod: '169.254.169.254', address: '169.254.169.254', port: 80, state: 'serving', servicePod: false },
        { pod: 'user-1', address: '10.0.0.5', port: 8080, state: 'serving', servicePod: true },
      ],
      probe: async (address) => {
        asked.push(address);
        return true;
      },
    });
    await fallback.poll();
    expect(asked).toEqual(['10.0.0.5']);
    // The address it would not ask is taken at its readiness: it serves, so the page tier stays out.
    expect(fallback.view).toEqual({ serving: 2, servingApp: 1, synced: true });
  });
});
