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
      endpoints: () => [{ pod: 'user-1', address: '127.0.0.1', port: user.port, state: 'serving' }],
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
