import { describe, expect, it } from 'vitest';
import { CachedAuth, kubernetesAuth } from '../../src/http/admin/auth.ts';
import { RateLimitedError } from '../../src/http/admin/errors.ts';
import type { KubeClients } from '../../src/k8s/client.ts';

describe('kubernetes authentication', () => {
  it('checks one token once, however many requests ask at the same time', async () => {
    let reviews = 0;
    const clients = {
      authentication: {
        createTokenReview: async () => {
          reviews++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return { status: { authenticated: true, user: { username: 'alice', groups: [] } } };
        },
      },
    } as unknown as KubeClients;
    const auth = new CachedAuth(kubernetesAuth(clients, 'ns', 'app-config'));
    const identities = await Promise.all(Array.from({ length: 100 }, () => auth.authenticate('one-token')));
    expect(reviews).toBe(1);
    expect(new Set(identities.map((identity) => identity?.user))).toEqual(new Set(['alice']));
  });
  it('sends at most a bounded burst of TokenReviews, however many unique tokens arrive', async () => {
    let reviews = 0;
    const clients = {
      authentication: {
        createTokenReview: async () => {
          reviews++;
          return { status: { authenticated: false } };
        },
      },
    } as unknown as KubeClients;
    const now = 1_000_000;
    const auth = new CachedAuth(
      kubernetesAuth(clients, 'ns', 'app-config', () => now),
      () => now,
    );
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        auth.authenticate(`garbage-${i}`).then(
          () => 'reviewed',
          (error: unknown) => (error instanceof RateLimitedError ? 'limited' : 'other'),
        ),
      ),
    );
    expect(reviews).toBe(20);
    expect(outcomes.filter((outcome) => outcome === 'limited')).toHaveLength(980);
    // A repeated garbage token is answered from the negative cache: no review.
    await auth.authenticate('garbage-0');
    expect(reviews).toBe(20);
  });
});
