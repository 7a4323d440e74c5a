import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestDurations } from '../../src/http/request-durations.ts';

describe('RequestDurations', () => {
  it('renders exactly what a prom-client Histogram renders for the same observations', async () => {
    const fast = new Registry();
    const durations = new RequestDurations(fast);
    const reference = new Registry();
    const histogram = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to produce the response, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [reference],
    });
    const observations: [string, string, number, number][] = [
      ['GET', '/readyz', 200, 0.0001],
      ['GET', '/readyz', 200, 0.0005],
      ['GET', '/readyz', 503, 0.003],
      ['POST', 'other', 404, 7],
      ['GET', '/', 200, 0.02],
      ['GET', '/readyz', 200, 0.3],
    ];
    for (const [method, route, status, seconds] of observations) {
      durations.record(method, route, status, seconds);
      histogram.observe({ method, route, status_code: String(status) }, seconds);
    }
    const sortLines = (text: string) => text.split('\n').sort();
    expect(sortLines(await fast.metrics())).toEqual(sortLines(await reference.metrics()));
    expect(await fast.metrics()).toContain('http_request_duration_seconds_count{method="GET",route="/readyz",status_code="200"} 3');
  });

  it('starts empty and empties on reset', async () => {
    const registry = new Registry();
    const durations = new RequestDurations(registry);
    expect(await registry.metrics()).not.toContain('_count');
    durations.record('GET', '/', 200, 0.01);
    expect(await registry.metrics()).toContain('_count{method="GET",route="/",status_code="200"} 1');
    durations.reset();
    expect(await registry.metrics()).not.toContain('_count');
  });
});
