import { describe, expect, it } from 'vitest';
import { MAX_SESSIONS_PER_IDENTITY, SessionStore } from '../../src/http/admin/sessions.ts';

const reader = { user: 'reader', groups: [] };
const operator = { user: 'operator', groups: [] };

describe('SessionStore', () => {
  it("caps one identity's sessions by ending its own oldest: a reader signing in a thousand times ends nobody else's", () => {
    const store = new SessionStore(() => 1_000_000);
    const kept = store.open('operator-token', operator);
    const readers = Array.from({ length: 1_000 }, () => store.open('reader-token', reader));
    expect(store.find(kept.id)).toEqual(kept);
    const alive = readers.filter((session) => store.find(session.id) !== null);
    expect(alive).toEqual(readers.slice(-MAX_SESSIONS_PER_IDENTITY));
  });

  it('still bounds the whole store, oldest first', () => {
    const store = new SessionStore(() => 1_000_000, 3, 3);
    const sessions = ['a', 'b', 'c', 'd'].map((user) => store.open(`${user}-token`, { user, groups: [] }));
    expect(sessions.map((session) => store.find(session.id) !== null)).toEqual([false, true, true, true]);
  });
});
