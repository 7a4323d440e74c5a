import { type Clock, repeatEvery } from '../clock.ts';
import type { FleetEndpoint } from './fleet.ts';
import { readPodStatus } from './pod-status.ts';

/** How often the serving user pods are asked whether they are in maintenance. */
const FALLBACK_POLL_MS = 1_000;

export interface FallbackView {
  /** The user Service's endpoints that serve, and of those, how many serve the application. */
  serving: number;
  servingApp: number;
  synced: boolean;
}

/** Asks one user pod's `/status` whether it is in maintenance; null when it does not say. */
export type StatusProbe = (address: string, port: number) => Promise<boolean | null>;

export const httpStatusProbe: StatusProbe = async (address, port) => {
  const maintenance = (await readPodStatus(address, port))?.maintenance;
  return typeof maintenance === 'boolean' ? maintenance : null;
};

/**
 * The page tier's readiness: ready exactly while no endpoint of the user Service serves the
 * application. An endpoint counts as serving the application while it is ready and its pod
 * does not say it is in maintenance; a user pod that has just entered maintenance stays ready
 * for MAINTENANCE_READY_GRACE_SECONDS, answering the 503 page itself, so the page tier joins
 * the public Service before the last user pod leaves it, and users never meet an empty Service.
 * That covers maintenance and any other moment with no user pod ready (a crash loop, a bad
 * rollout): users get the page instead of a refused connection.
 */
export class FallbackReadiness {
  readonly #clock: Clock;
  readonly #probe: StatusProbe;
  readonly #endpoints: () => readonly FleetEndpoint[];
  readonly #synced: () => boolean;
  readonly #inMaintenance = new Map<string, boolean | null>();
  /** Pods with a question in flight: each is asked on its own, so one slow pod never delays the others. */
  readonly #asking = new Set<string>();
  #stop: (() => void) | null = null;

  readonly #statusPort: number | null;

  /** `statusPort`: where the user pods answer `/status`, when not on the Service's own port (the gate sidecar's 9901). */
  constructor(options: {
    clock: Clock;
    probe?: StatusProbe;
    endpoints: () => readonly FleetEndpoint[];
    synced: () => boolean;
    statusPort?: number;
  }) {
    this.#clock = options.clock;
    this.#statusPort = options.statusPort ?? null;
    this.#probe = options.probe ?? httpStatusProbe;
    this.#endpoints = options.endpoints;
    this.#synced = options.synced;
  }

  get view(): FallbackView {
    const serving = this.#endpoints().filter((endpoint) => endpoint.state === 'serving');
    return {
      serving: serving.length,
      servingApp: serving.filter((endpoint) => this.#inMaintenance.get(endpoint.pod) !== true).length,
      synced: this.#synced(),
    };
  }

  /** Ready when the fleet is known and no user endpoint serves the application. */
  get ready(): boolean {
    const view = this.view;
    return view.synced && view.servingApp === 0;
  }

  start(): void {
    // Not waited for: each pod's question runs on its own, and the next round skips those still open.
    this.#stop = repeatEvery(this.#clock, FALLBACK_POLL_MS, () => {
      void this.poll();
    });
  }

  stop(): void {
    this.#stop?.();
  }

  /**
   * Asks every serving user pod that has no question in flight, each on its own; forgets pods
   * that left. Resolves when the questions it asked are answered (or cut at their deadline).
   * Only the Service's own pods are asked: an endpoint that is not one is taken at its readiness.
   */
  async poll(): Promise<void> {
    const serving = this.#endpoints().filter((endpoint) => endpoint.state === 'serving');
    const seen = new Set(serving.map((endpoint) => endpoint.pod));
    for (const pod of this.#inMaintenance.keys()) if (!seen.has(pod)) this.#inMaintenance.delete(pod);
    await Promise.all(
      serving
        .filter((endpoint) => !this.#asking.has(endpoint.pod))
        .map(async (endpoint) => {
          const port = this.#statusPort ?? endpoint.port;
          if (!endpoint.servicePod || port === null) {
            this.#inMaintenance.set(endpoint.pod, null);
            return;
          }
          this.#asking.add(endpoint.pod);
          try {
            const answer = await this.#probe(endpoint.address, port);
            if (this.#endpoints().some((current) => current.pod === endpoint.pod)) this.#inMaintenance.set(endpoint.pod, answer);
          } finally {
            this.#asking.delete(endpoint.pod);
          }
        }),
    );
  }
}
