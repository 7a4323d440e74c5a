import { apiMessage, apiStatus, kubernetes } from './client.ts';

export interface Identity {
  user: string;
  groups: string[];
}

/**
 * TokenReview: who does this bearer token belong to? Null when the API server does not accept
 * it. Needs `create tokenreviews`, which `system:auth-delegator` grants.
 */
export async function reviewToken(token: string): Promise<Identity | null> {
  const { authentication } = await kubernetes();
  try {
    const review = await authentication.createTokenReview({ body: { spec: { token } } });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) return null;
    return { user: status.user.username, groups: status.user.groups ?? [] };
  } catch (error) {
    throw new Error(`TokenReview failed: ${apiStatus(error) ? `HTTP ${apiStatus(error)}: ` : ''}${apiMessage(error)}`, { cause: error });
  }
}

/** SubjectAccessReview: may this identity do `verb` on one ConfigMap? */
export async function mayAccessConfigMap(identity: Identity, verb: 'get' | 'patch', namespace: string, name: string): Promise<boolean> {
  const { authorization } = await kubernetes();
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
    throw new Error(`SubjectAccessReview failed: ${apiStatus(error) ? `HTTP ${apiStatus(error)}: ` : ''}${apiMessage(error)}`, { cause: error });
  }
}
