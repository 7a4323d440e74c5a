import { get } from 'node:http';
import type { Logger } from 'pino';
import { type Clock, repeatEvery } from '../clock.ts';

export type UpstreamHealth = { state: 'unknown' | 'ready' } | { state: 'not_ready'; problem: string };

/**
 * The application's own readiness, checked by the gate at an interval (`UPSTREAM_READY_PATH`),
 * so the pod's one probe tells the whole truth: in maintenance, or the app not ready, means out.
 * A 2xx or 3xx answer within the interval counts as ready.
 */
export class UpstreamReadiness {
  #health: UpstreamHealth = { state: 'unknown' };
  #stop: (() => void) | null = null;

  readonly url: URL;
  readonly intervalMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(url: URL, intervalMs: number, clock: Clock, log: Logger) {
    this.url = url;
    this.intervalMs = intervalMs;
    this.#clock = clock;
    this.#log = log;
  }

  get health(): UpstreamHealth {
    return this.#health;
  }

  start(): void {
    this.#stop = repeatEvery(this.#clock, this.intervalMs, () => this.check());
  }

  stop(): void {
    this.#stop?.();
  }

  check(): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (next: UpstreamHealth) => {
        if (settled) return;
        settled = true;
        if (next.state !== this.#health.state) {
          if (next.state === 'not_ready') this.#log.warn({ url: this.url.href, problem: next.problem }, 'the application is not ready');
          else this.#log.info({ url: this.url.href }, 'the application is ready');
        }
        this.#health = next;
        resolve();
      };
      const request = get(this.url, { agent: false, timeout: this.intervalMs }, (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        settle(status >= 200 && status < 400 ? { state: 'ready' } : { state: 'not_ready', problem: `answered ${status}` });
      });
      request.once('timeout', () => request.destroy(new Error(`no answer within ${this.intervalMs} ms`)));
      request.once('error', (error) => settle({ state: 'not_ready', problem: error.message }));
    });
  }
}
