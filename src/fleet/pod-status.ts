import { get } from 'node:http';
import { describeConfig, type MaintenanceConfig } from '../config/parse.ts';
import type { FleetEndpoint } from './fleet.ts';

/** The whole exchange with one pod, connect to last byte: a pod that trickles bytes is cut too. */
const STATUS_DEADLINE_MS = 800;
const MAX_STATUS_BYTES = 64 * 1024;

/** A pod's `/status` as JSON; null when it does not answer one within the deadline and size bound. */
export type PodStatusReader = (address: string, port: number) => Promise<Record<string, unknown> | null>;

export const readPodStatus: PodStatusReader = (address, port) =>
  new Promise((resolve) => {
    const host = address.includes(':') ? `[${address}]` : address;
    let responded = false;
    const request = get(`http://${host}:${port}/status`, { agent: false }, (response) => {
      responded = true;
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_STATUS_BYTES) request.destroy();
      });
      response.on('end', () => {
        try {
          const status: unknown = JSON.parse(body);
          resolve(typeof status === 'object' && status !== null && !Array.isArray(status) ? (status as Record<string, unknown>) : null);
        } catch {
          resolve(null);
        }
      });
      // Cut at the deadline or past the size bound: no answer. After 'end' this changes nothing.
      response.on('close', () => resolve(null));
    });
    const deadline = setTimeout(() => request.destroy(), STATUS_DEADLINE_MS);
    request.on('close', () => {
      clearTimeout(deadline);
      if (!responded) resolve(null);
    });
    request.on('error', () => resolve(null));
  });

/**
 * Whether a pod's `/status` says it applies this config (every field the panel shows, compared
 * as the pod serialised it); null when the status has no `config` to compare.
 */
export function appliesConfig(status: Record<string, unknown> | null, expected: MaintenanceConfig): boolean | null {
  const config = status?.config;
  if (typeof config !== 'object' || config === null) return null;
  const shown = config as Record<string, unknown>;
  return Object.entries(describeConfig(expected)).every(([key, value]) => JSON.stringify(shown[key]) === JSON.stringify(value));
}

/** Each pod's `/status`, asked on its endpoint; null for one that does not answer or has no port to ask. */
function readStatuses(pods: readonly string[], endpoints: readonly FleetEndpoint[], read: PodStatusReader) {
  const byPod = new Map(endpoints.map((endpoint) => [endpoint.pod, endpoint]));
  return Promise.all(
    pods.map((pod) => {
      const endpoint = byPod.get(pod);
      return endpoint?.port == null ? null : read(endpoint.address, endpoint.port);
    }),
  );
}

/**
 * Of these pods, those that do not apply `expected` yet. Each is asked its `/status`; one that
 * does not answer (a NetworkPolicy, an older image) counts as behind only while the fleet view
 * (its endpoint's readiness) says so.
 */
export async function podsBehind(
  pods: readonly string[],
  view: {
    expected: MaintenanceConfig | null;
    endpoints: readonly FleetEndpoint[];
    lagging: readonly string[];
    read?: PodStatusReader;
  },
): Promise<string[]> {
  const { expected } = view;
  if (expected === null) return [];
  const statuses = await readStatuses(pods, view.endpoints, view.read ?? readPodStatus);
  return pods.filter((pod, index) => !(appliesConfig(statuses[index] ?? null, expected) ?? !view.lagging.includes(pod)));
}

/**
 * Of these pods, those that apply `expected` and say they are ready while their endpoint is not
 * serving (`notServing`, from the app Service's EndpointSlices): the kubelet probed them before
 * the switch reached them, and will not again for a period.
 */
export async function podsUnprobed(
  pods: readonly string[],
  view: {
    expected: MaintenanceConfig | null;
    endpoints: readonly FleetEndpoint[];
    notServing: readonly string[];
    read?: PodStatusReader;
  },
): Promise<string[]> {
  const { expected } = view;
  if (expected === null) return [];
  const candidates = pods.filter((pod) => view.notServing.includes(pod));
  const statuses = await readStatuses(candidates, view.endpoints, view.read ?? readPodStatus);
  return candidates.filter((_, index) => {
    const status = statuses[index] ?? null;
    return appliesConfig(status, expected) === true && status?.ready === true;
  });
}
