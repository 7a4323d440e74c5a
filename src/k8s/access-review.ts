import { KubernetesApiError, type KubeClients } from './client.ts';

export interface Identity {
  user: string;
  groups: string[];
}

/**
 * TokenReview: who does this bearer token belong to? Null when the API server does not accept
 * it. Needs `create tokenreviews`, which `system:auth-delegator` grants.
 */
export async function reviewToken({ authentication }: KubeClients, token: string): Promise<Identity | null> {
  try {
    const review = await authentication.createTokenReview({ body: { spec: { token } } });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) return null;
    return { user: status.user.username, groups: status.user.groups ?? [] };
  } catch (error) {
    throw new KubernetesApiError('TokenReview failed', error);
  }
}

/** SubjectAccessReview: may this identity do `verb` on one ConfigMap? */
export async function mayAccessConfigMap(
  { authorization }: KubeClients,
  identity: Identity,
  verb: 'get' | 'patch',
  namespace: string,
  name: string,
): Promise<boolean> {
  try {
    const review = await authorization.createSubjectAccessReview({
      body: {
        spec: {
          user: identity.user,
          groups: identity.groups,
          resourceAttributes: { namespace, verb, group: '', resource: 'configmaps', name },
        },
      },
    });
    return review.status?.allowed === true;
  } catch (error) {
    throw new KubernetesApiError('SubjectAccessReview failed', error);
  }
}
