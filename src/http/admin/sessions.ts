import { randomBytes } from 'node:crypto';
import type { Identity } from './auth.ts';

export const SESSION_SECONDS = 15 * 60;
/** Panel sessions one identity may hold; its next sign-in ends its own oldest, never another's. */
export const MAX_SESSIONS_PER_IDENTITY = 10;

export interface Session {
  id: string;
  /** The bearer token it was opened with, checked again (through the auth cache) on every request. */
  token: string;
  identity: Identity;
  csrf: string;
  expiresAt: number;
}

/**
 * The panel's sessions, held by this process only: the cookie carries a random id and nothing
 * else, so signing out, or the token's revocation, ends a session for good.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;
  readonly #maxSessions: number;
  readonly #maxPerIdentity: number;
  constructor(now: () => number = Date.now, maxSessions = 1_000, maxPerIdentity = MAX_SESSIONS_PER_IDENTITY) {
    this.#now = now;
    this.#maxSessions = maxSessions;
    this.#maxPerIdentity = maxPerIdentity;
  }

  open(token: string, identity: Identity): Session {
    const own: string[] = [];
    for (const [id, session] of this.#sessions) {
      if (session.expiresAt <= this.#now()) this.#sessions.delete(id);
      else if (session.identity.user === identity.user) own.push(id);
    }
    // Oldest first, in the map's order: an identity at its share makes room from its own.
    for (const id of own.slice(0, Math.max(0, own.length - this.#maxPerIdentity + 1))) this.#sessions.delete(id);
    if (this.#sessions.size >= this.#maxSessions) this.#sessions.delete(this.#sessions.keys().next().value!);
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      token,
      identity,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: this.#now() + SESSION_SECONDS * 1000,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  find(id: string | undefined): Session | null {
    if (id === undefined) return null;
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    if (session.expiresAt > this.#now()) return session;
    this.#sessions.delete(id);
    return null;
  }

  end(id: string): void {
    this.#sessions.delete(id);
  }
}
