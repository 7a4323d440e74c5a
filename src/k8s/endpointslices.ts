import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { Informer, KubeClients } from './client.ts';

export type EndpointSliceInformer = Informer<V1EndpointSlice>;

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
