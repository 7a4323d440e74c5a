import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiSource } from '../../src/config/api-source.ts';
import { ConfigStore } from '../../src/config/store.ts';
import { kubernetes } from '../../src/k8s/client.ts';
import { configMapInformer } from '../../src/k8s/configmaps.ts';
import { systemClock } from '../../src/clock.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, kubeconfigForToken, kubectl, skipReason, tokenFor } from './cluster.ts';

// In process, with a watchdog far more impatient than the default, so a quiet watch trips it.
describe.skipIf(skipReason !== null)('the API source watchdog', () => {
  const lines: { msg: string }[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    }),
  );
  const store = new ConfigStore();
  let source: ApiSource;

  beforeAll(async () => {
    await kubectl(['apply', '-k', join(ROOT, 'demo/local-api-watch')]);
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    // The client is loaded once per process, from KUBECONFIG.
    process.env.KUBECONFIG = await kubeconfigForToken(await tokenFor('sample-app-config-reader'), 'watchdog');
    const ref = { namespace: NAMESPACE, name: 'app-config' };
    const clients = await kubernetes();
    source = new ApiSource(
      { ...ref, clock: systemClock, informer: () => configMapInformer(clients, ref), watchdogSilenceMs: 1_000, watchdogIntervalMs: 200 },
      log,
    );
    source.observe(store.observer);
    await source.start();
    await waitFor('the first snapshot', () => (store.config?.enabled === false ? true : undefined));
  });

  afterAll(async () => {
    await source?.stop();
  });

  it('restarts a watch that has gone silent, and keeps following the ConfigMap', async () => {
    await waitFor('the watchdog to fire', () => (lines.some((line) => line.msg === 'watch went silent; restarting it') ? true : undefined));
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'true' }));
    await waitFor('the change after the restart', () => (store.config?.enabled === true ? true : undefined));
    await waitFor('the watch to be back', () =>
      (source.status() as { api: { connection: string } }).api.connection === 'watching' ? true : undefined,
    );
    expect(store.snapshot.lastError).toBeNull();
    // Its own restarts are not failures: no backoff, no error.
    expect(lines.map((line) => line.msg)).not.toContain('watch failed; restarting');
  });
});
