import type { EventsV1Event, V1ConfigMap } from '@kubernetes/client-node';
import { KubernetesApiError, type Informer, type KubeClients } from './client.ts';

export interface ConfigMapRef {
  namespace: string;
  name: string;
}

export async function readConfigMap({ core }: KubeClients, { namespace, name }: ConfigMapRef): Promise<V1ConfigMap> {
  try {
    return await core.readNamespacedConfigMap({ name, namespace });
  } catch (error) {
    throw new KubernetesApiError(`reading ConfigMap ${namespace}/${name}`, error);
  }
}

/**
 * A JSON merge patch. With `metadata.resourceVersion` in the patch, the API server refuses a
 * stale write with 409 Conflict and writes nothing.
 */
export async function mergePatchConfigMap(
  { core, lib }: KubeClients,
  { namespace, name }: ConfigMapRef,
  patch: object,
  fieldManager: string,
): Promise<V1ConfigMap> {
  try {
    return await core.patchNamespacedConfigMap(
      { name, namespace, body: patch, fieldManager },
      lib.setHeaderOptions('Content-Type', lib.PatchStrategy.MergePatch),
    );
  } catch (error) {
    throw new KubernetesApiError(`patching ConfigMap ${namespace}/${name}`, error);
  }
}

export interface ConfigMapEvent {
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  note: string;
  /** The ConfigMap as it was written. */
  regarding: V1ConfigMap;
  /** Structured facts beside the note, for the history (who, why, what). */
  annotations?: Record<string, string>;
}

/** The API server refuses an Event whose note is longer than this many bytes (not characters). */
const EVENT_NOTE_MAX_BYTES = 1024;

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary, marked with an ellipsis when cut. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const ellipsis = '…';
  let end = maxBytes - Buffer.byteLength(ellipsis);
  // Back to the first byte of a character: continuation bytes are 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}${ellipsis}`;
}

/** An events.k8s.io/v1 Event about a ConfigMap. */
export async function recordConfigMapEvent(
  { events, lib }: KubeClients,
  { namespace, name }: ConfigMapRef,
  event: ConfigMapEvent,
): Promise<void> {
  const { uid, resourceVersion } = event.regarding.metadata ?? {};
  try {
    await events.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${name}-`, namespace, ...(event.annotations ? { annotations: event.annotations } : {}) },
        // MicroTime: the API server wants six fractional digits, which a plain Date lacks.
        eventTime: new lib.V1MicroTime(),
        reportingController: event.reportingController,
        reportingInstance: event.reportingInstance,
        action: event.action,
        reason: event.reason,
        type: 'Normal',
        note: truncateUtf8(event.note, EVENT_NOTE_MAX_BYTES),
        regarding: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name,
          namespace,
          ...(uid ? { uid } : {}),
          ...(resourceVersion ? { resourceVersion } : {}),
        },
      },
    });
  } catch (error) {
    throw new KubernetesApiError(`recording an Event about ConfigMap ${namespace}/${name}`, error);
  }
}

/** The Events about one ConfigMap (events.k8s.io/v1), which `list` on `events` in the namespace allows. */
export async function listConfigMapEvents({ events }: KubeClients, { namespace, name }: ConfigMapRef): Promise<EventsV1Event[]> {
  try {
    const list = await events.listNamespacedEvent({ namespace, fieldSelector: `regarding.kind=ConfigMap,regarding.name=${name}` });
    return list.items;
  } catch (error) {
    throw new KubernetesApiError(`listing the Events about ConfigMap ${namespace}/${name}`, error);
  }
}

export type ConfigMapInformer = Informer<V1ConfigMap>;

/**
 * List and watch one ConfigMap, with a field selector on its name, so a Role limited by
 * `resourceNames` is enough. client-node relists by itself on 410 Gone; on any other error
 * the informer stays stopped until it is started again.
 */
export function configMapInformer({ core, watch, lib }: KubeClients, { namespace, name }: ConfigMapRef): ConfigMapInformer {
  const fieldSelector = `metadata.name=${name}`;
  return new lib.ListWatch<V1ConfigMap>(
    `/api/v1/namespaces/${namespace}/configmaps`,
    watch,
    () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
}
