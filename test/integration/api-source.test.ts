import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as lib from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiSource } from '../../src/config/api-source.ts';
import { ConfigStore } from '../../src/config/store.ts';
import { clientsFor } from '../../src/k8s/client.ts';
import { configMapInformer } from '../../src/k8s/configmaps.ts';
import { systemClock } from '../../src/clock.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A stand-in API server on loopback that speaks just enough list and watch for one ConfigMap:
 * the real informer of client-node runs against it, so the test sees what it does on 410 Gone.
 */
describe('the API source when its watch is answered 410 Gone', () => {
  const requests: string[] = [];
  let mode = 'false';
  let listResourceVersion = 10;
  const openWatches = new Set<ServerResponse>();
  let firstWatch: ServerResponse | null = null;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(url.searchParams.get('watch') === 'true' ? `watch rv=${url.searchParams.get('resourceVersion')}` : 'list');
    response.setHeader('Content-Type', 'application/json');
    if (url.searchParams.get('watch') !== 'true') {
      listResourceVersion++;
      response.end(
        JSON.stringify({
          kind: 'ConfigMapList',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(listResourceVersion) },
          items: [
            {
              metadata: { name: 'app-config', namespace: 'ns', resourceVersion: String(listResourceVersion) },
              data: { MAINTENANCE_MODE: mode },
            },
          ],
        }),
      );
      return;
    }
    if (requests.filter((entry) => entry.startsWith('watch')).length === 1) firstWatch = response;
    openWatches.add(response);
    response.flushHeaders();
  });
  let url = '';
  const store = new ConfigStore();
  let source: ApiSource;

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await source?.stop();
    for (const response of openWatches) response.end();
    server.close();
  });

  it('lists again, and applies what the new list says', async () => {
    const config = new lib.KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    const ref = { namespace: 'ns', name: 'app-config' };
    const clients = clientsFor(config, lib);
    source = new ApiSource({ ...ref, clock: systemClock, informer: () => configMapInformer(clients, ref) }, pino({ level: 'silent' }));
    source.observe(store.observer);
    mode = 'false';
    await source.start();
    await waitFor('the first list', () => (store.config?.enabled === false ? true : undefined));
    mode = 'true';
    // The first watch now learns that its resourceVersion is too old.
    const watch = await waitFor('the first watch', () => firstWatch ?? undefined);
    watch.end(
      `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`,
    );
    await waitFor('the relist after 410', () => (store.config?.enabled === true ? true : undefined));
    // The informer applies the new list before it opens the next watch: wait for that request too.
    await waitFor('the watch after the relist', () => (requests.length >= 4 ? true : undefined));
    expect(requests.slice(0, 4)).toEqual(['list', 'watch rv=11', 'list', 'watch rv=12']);
    expect(store.snapshot.lastError).toBeNull();
    expect(source.status()).toMatchObject({ source: 'api', api: { connection: 'watching', found: true, lastError: null } });
  });
});
