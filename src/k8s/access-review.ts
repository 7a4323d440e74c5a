import type { AuthenticationV1Api, AuthorizationV1Api } from '@kubernetes/client-node';
import { apiStatus, KubernetesApiError, type KubeClients } from './client.ts';
import type { ConfigMapRef } from './configmaps.ts';

export interface Identity {
  user: string;
  groups: string[];
  /** What the API server says this identity may do to the switch, when it was asked (kubernetes mode). */
  may?: { get: boolean; patch: boolean };
}

/** The API server's own clients, speaking as the bearer of `token` rather than as this pod. */
function clientsAs(
  { config, lib }: KubeClients,
  token: string,
): { authentication: AuthenticationV1Api; authorization: AuthorizationV1Api } {
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig names no cluster');
  const caller = new lib.KubeConfig();
  caller.loadFromClusterAndUser(cluster, { name: 'caller', token });
  return { authentication: caller.makeApiClient(lib.AuthenticationV1Api), authorization: caller.makeApiClient(lib.AuthorizationV1Api) };
}

/**
 * Who this bearer token belongs to, and whether it may `get` and `patch` the switch: a
 * SelfSubjectReview and two SelfSubjectAccessReviews, each sent **with the token itself**. Every
 * authenticated identity may make them (the default `system:basic-user` ClusterRole), so this
 * pod needs no TokenReview, no SubjectAccessReview and no ClusterRoleBinding. Null when the API
 * server does not accept the token (401).
 */
export async function reviewOwnAccess(clients: KubeClients, token: string, { namespace, name }: ConfigMapRef): Promise<Identity | null> {
  const own = clientsAs(clients, token);
  let user: { username?: string; groups?: string[] } | undefined;
  try {
    const review = await own.authentication.createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    user = review.status?.userInfo;
  } catch (error) {
    if (apiStatus(error) === 401) return null;
    throw new KubernetesApiError('SelfSubjectReview failed', error);
  }
  if (!user?.username) return null;
  const may = async (verb: 'get' | 'patch') => {
    try {
      const review = await own.authorization.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { namespace, verb, group: '', resource: 'configmaps', name } },
        },
      });
      return review.status?.allowed === true;
    } catch (error) {
      throw new KubernetesApiError('SelfSubjectAccessReview failed', error);
    }
  };
  const [get, patch] = await Promise.all([may('get'), may('patch')]);
  return { user: user.username, groups: user.groups ?? [], may: { get, patch } };
}
