import { describe, expect, it } from 'vitest';
import { CachedAuth, kubernetesAuth } from '../../src/http/admin/auth.ts';
import { RateLimitedError } from '../../src/http/admin/errors.ts';

describe('kubernetes authentication', () => {
  it('checks one token once, however many requests ask at the same time', async () => {
    let reviews = 0;
    const review = async () => {
      reviews++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { user: 'alice', groups: [], may: { get: true, patch: false } };
    };
    const auth = new CachedAuth(kubernetesAuth(review));
    const identities = await Promise.all(Array.from({ length: 100 }, () => auth.authenticate('one-token')));
    expect(reviews).toBe(1);
    expect(new Set(identities.map((identity) => identity?.user))).toEqual(new Set(['alice']));
  });
  it('sends at most a bounded burst of reviews, however many unique tokens arrive', async () => {
    let reviews = 0;
    const review = async () => {
      reviews++;
      return null;
    };
    const now = 1_000_000;
    const auth = new CachedAuth(
      kubernetesAuth(review, () => now),
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
    const review = async (token: string) => {
      reviews++;
      return token.startsWith('operator') ? { user: token, groups: [], may: { get: true, patch: true } } : null;
    };
    let now = 1_000_000;
    const auth = new CachedAuth(
      kubernetesAuth(review, () => now),
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

  it("answers whether an identity may read or change the switch from its own review, as fresh as the token's", async () => {
    let may = { get: true, patch: true };
    let now = 1_000_000;
    const auth = new CachedAuth(
      kubernetesAuth(
        async () => ({ user: 'viewer', groups: [], may }),
        () => now,
      ),
      () => now,
    );
    const first = (await auth.authenticate('token'))!;
    expect([await auth.authorize(first, 'get'), await auth.authorize(first, 'patch')]).toEqual([true, true]);
    // Its RoleBinding narrowed: the next review, past the cache, says so.
    may = { get: true, patch: false };
    now += 11_000;
    const again = (await auth.authenticate('token'))!;
    expect([await auth.authorize(again, 'get'), await auth.authorize(again, 'patch')]).toEqual([true, false]);
  });
});
