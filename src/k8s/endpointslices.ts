import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { KubeClients } from './client.ts';

/** What the fleet watch needs of an informer: client-node's ListWatch, or a fake in tests. */
export interface EndpointSliceInformer {
  on(event: 'add' | 'update' | 'delete', callback: (slice: V1EndpointSlice) => void): void;
  on(event: 'connect', callback: () => void): void;
  on(event: 'error', callback: (error: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * List and watch the EndpointSlices of one Service (label `kubernetes.io/service-name`), which
 * `get`, `list` and `watch` on `endpointslices` in the namespace allow. client-node relists by
 * itself on 410 Gone; on any other error the informer stays stopped until started again.
 */
export function endpointSliceInformer({ discovery, watch, lib }: KubeClients, namespace: string, service: string): EndpointSliceInformer {
  const labelSelector = `kubernetes.io/service-name=${service}`;
  return new lib.ListWatch<V1EndpointSlice>(
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    watch,
    () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector }),
    false,
    labelSelector,
  );
}
