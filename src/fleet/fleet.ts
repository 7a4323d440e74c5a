import { LABELS } from '../k8s/labels.ts';

/** How an endpoint of the user Service stands, as its EndpointSlice says. */
export type EndpointState = 'serving' | 'not_serving' | 'terminating';

export interface FleetEndpoint {
  /** The pod, from the endpoint's `targetRef`; its address when there is none. */
  pod: string;
  address: string;
  /** The Service port's target on the pod, from the slice. */
  port: number | null;
  state: EndpointState;
  /**
   * A Pod's endpoint in a slice that the EndpointSlice controller wrote from the Service's
   * selector: the only kind the page tier ever asks. Anyone allowed to create EndpointSlices
   * could name any address in a slice of their own.
   */
  servicePod: boolean;
}

/** The label the EndpointSlice controller puts on the slices it writes for a Service's selector. */
const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';

/** The parts of an EndpointSlice that matter here (structurally a V1EndpointSlice). */
export interface SliceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  ports?: { port?: number | null }[] | null;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind?: string; name?: string };
  }[];
}

/**
 * The endpoints users actually reach, from the Service's EndpointSlices. A terminating endpoint
 * is leaving, whatever its readiness; otherwise `ready` decides (unset means ready, as the
 * EndpointSlice API defines it). A pod listed in two slices (during a slice update) counts once.
 */
export function endpointsFromSlices(slices: Iterable<SliceLike>): FleetEndpoint[] {
  const byPod = new Map<string, FleetEndpoint>();
  for (const slice of slices) {
    const port = slice.ports?.[0]?.port ?? null;
    const controllerWritten = slice.metadata?.labels?.[MANAGED_BY_LABEL] === ENDPOINTSLICE_CONTROLLER;
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses[0] ?? '';
      const isPod = endpoint.targetRef?.kind === 'Pod' && Boolean(endpoint.targetRef.name);
      const pod = isPod ? endpoint.targetRef!.name! : address;
      const conditions = endpoint.conditions ?? {};
      const state: EndpointState = conditions.terminating === true ? 'terminating' : conditions.ready === false ? 'not_serving' : 'serving';
      byPod.set(pod, { pod, address, port, state, servicePod: isPod && controllerWritten });
    }
  }
  return [...byPod.values()].sort((a, b) => a.pod.localeCompare(b.pod));
}

/** How many endpoints stand in each state. */
export function countByState(endpoints: readonly FleetEndpoint[]): { serving: number; notServing: number; terminating: number } {
  const count = (state: EndpointState) => endpoints.filter((endpoint) => endpoint.state === state).length;
  return { serving: count('serving'), notServing: count('not_serving'), terminating: count('terminating') };
}

/**
 * Whether the fleet does what the switch says: in maintenance no endpoint serves; otherwise at
 * least one does and none is held out. Terminating endpoints are leaving either way.
 */
export function isConverged(active: boolean, endpoints: readonly FleetEndpoint[]): boolean {
  if (active) return endpoints.every((endpoint) => endpoint.state !== 'serving');
  return endpoints.some((endpoint) => endpoint.state === 'serving') && endpoints.every((endpoint) => endpoint.state !== 'not_serving');
}

/** The pods that keep the fleet from converging: serving in maintenance, or held out after it. */
export function laggingPods(active: boolean, endpoints: readonly FleetEndpoint[]): string[] {
  const lagging = active ? 'serving' : 'not_serving';
  return endpoints.filter((endpoint) => endpoint.state === lagging).map((endpoint) => endpoint.pod);
}

/**
 * The pods behind the user Service that carry no gate: not among the pods that mount the switch
 * (the EndpointSlices of `<app>-maintenance-pods`). They keep serving during maintenance.
 */
export function ungatedPods(fleet: readonly FleetEndpoint[], gated: readonly FleetEndpoint[]): string[] {
  const withGate = new Set(gated.map((endpoint) => endpoint.pod));
  return fleet.filter((endpoint) => endpoint.servicePod && !withGate.has(endpoint.pod)).map((endpoint) => endpoint.pod);
}

/** What to tell an operator about pods that carry no gate; null when every pod carries one. */
export function ungatedProblem(service: string, fleetSize: number, ungated: readonly string[]): string | null {
  if (ungated.length === 0) return null;
  const fix = `label each Deployment that goes into maintenance ${LABELS.gate}: "true" and apply the install again`;
  if (ungated.length === fleetSize)
    return `no Deployment of this app carries the gate: none of the ${fleetSize} pods behind Service ${service} follows the switch, so users reach them during maintenance; ${fix}`;
  return `${ungated.length} of the ${fleetSize} pods behind Service ${service} carry no gate and keep serving during maintenance (${ungated.slice(0, 5).join(', ')}${ungated.length > 5 ? ', …' : ''}); ${fix}`;
}
