import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConfigStore } from '../config/store.ts';
import type { MaintenanceState } from '../maintenance/state.ts';

export interface Metrics {
  registry: Registry;
  /** Times every request; the route label is the registered pattern, never the raw path. */
  middleware: MiddlewareHandler;
  close(): void;
}

export function createMetrics(store: ConfigStore, state: MaintenanceState): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'maintenance_active',
    help: '1 while maintenance is in effect (switch on or inside the window), else 0',
    registers: [registry],
    collect() {
      this.set(state.current.active ? 1 : 0);
    },
  });
  const reloads = new Counter({
    name: 'config_reloads_total',
    help: 'Config snapshots applied (success) or rejected, keeping the last good state (error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  reloads.inc({ result: 'success' }, 0);
  reloads.inc({ result: 'error' }, 0);
  const lastReload = new Gauge({
    name: 'config_last_reload_timestamp_seconds',
    help: 'Unix time of the last successfully applied config snapshot',
    registers: [registry],
  });
  new Gauge({
    name: 'config_last_reload_success',
    help: '1 if the latest config snapshot or source event was good, 0 if the last good state is kept despite an error',
    registers: [registry],
    collect() {
      this.set(store.snapshot.lastError === null ? 1 : 0);
    },
  });
  const unsubscribe = store.subscribe((event) => {
    if (event.type === 'applied') {
      reloads.inc({ result: 'success' });
      lastReload.set(Date.now() / 1000);
    } else {
      reloads.inc({ result: 'error' });
    }
  });

  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    await next();
    duration.observe(
      { method: c.req.method, route: routePath(c, -1), status_code: c.res.status },
      (performance.now() - started) / 1000,
    );
  };

  return { registry, middleware, close: unsubscribe };
}
