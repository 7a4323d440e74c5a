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

  it('keeps a budget of its own for tokens accepted before: garbage never locks out a session or a returning caller', async () => {
    let reviews = 0;
    const clients = {
      authentication: {
        createTokenReview: async ({ body }: { body: { spec: { token: string } } }) => {
          reviews++;
          const user = body.spec.token.startsWith('operator') ? body.spec.token : null;
          return { status: user ? { authenticated: true, user: { username: user, groups: [] } } : { authenticated: false } };
        },
      },
    } as unknown as KubeClients;
    let now = 1_000_000;
    const auth = new CachedAuth(
      kubernetesAuth(clients, 'ns', 'app-config', () => now),
      () => now,
    );
    const operators = Array.from({ length: 8 }, (_, i) => `operator-${i}`);
    for (const token of operators) expect(await auth.authenticate(token)).toMatchObject({ user: token });
    // Past the answers' cache, a flood of garbage spends the strangers' budget whole.
    now += 60_000;
    const garbage = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        auth.authenticate(`garbage-${i}`).then(
          () => 'reviewed',
          () => 'limited',
        ),
      ),
    );
    expect(garbage.filter((outcome) => outcome === 'limited').length).toBeGreaterThan(500);
    // Every operator's token, checked again (a session's re-check), is still answered.
    for (const token of operators) expect(await auth.authenticate(token)).toMatchObject({ user: token });
    expect(reviews).toBe(8 + 20 + 8);
  });
});
