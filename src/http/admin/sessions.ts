import { randomBytes } from 'node:crypto';
import type { Identity } from './auth.ts';

export const SESSION_SECONDS = 15 * 60;

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
  constructor(now: () => number = Date.now, maxSessions = 1_000) {
    this.#now = now;
    this.#maxSessions = maxSessions;
  }

  open(token: string, identity: Identity): Session {
    for (const [id, session] of this.#sessions) {
      if (session.expiresAt <= this.#now()) this.#sessions.delete(id);
    }
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
