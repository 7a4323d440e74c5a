import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Identity } from '../../k8s/access-review.ts';
import { AdminUnavailableError, RateLimitedError } from './errors.ts';
import { RateLimiter } from './rate-limit.ts';

export type { Identity };
export type Access = 'get' | 'patch';

export type AdminAuthMode = 'kubernetes' | 'token' | 'none';

/**
 * Whether a token was accepted before (a session's, a returning caller's): checking it again
 * spends its own budget, which tokens never seen before cannot empty.
 */
export type Standing = 'known' | 'stranger';

export interface AdminAuth {
  readonly mode: AdminAuthMode;
  /** Who this bearer token belongs to, or null if it is not accepted. */
  authenticate(token: string, standing?: Standing): Promise<Identity | null>;
  /** May this identity read (get) or change (patch) the maintenance config? */
  authorize(identity: Identity, access: Access): Promise<boolean>;
  /** Why nobody can be authenticated right now (for readiness), or null. */
  problem(): string | null;
  close(): void;
}

/**
 * How long an answer about a token or a permission is reused. It is also the bound on
 * revocation: a token removed, a ServiceAccount deleted or a RoleBinding dropped stops
 * working, sessions included, within this time.
 */
export const AUTH_CACHE_MS = 10_000;

/** A time-bounded cache with a bounded number of entries; the oldest go first. */
class TtlCache<T> {
  readonly #entries = new Map<string, { value: T; expires: number }>();
  /** Loads under way: concurrent asks for one key share one load (one TokenReview, not a hundred). */
  readonly #loading = new Map<string, Promise<T>>();
  readonly #now: () => number;
  readonly #maxEntries: number;
  constructor(now: () => number, maxEntries = 10_000) {
    this.#now = now;
    this.#maxEntries = maxEntries;
  }

  has(key: string): boolean {
    const hit = this.#entries.get(key);
    return hit !== undefined && hit.expires > this.#now();
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.#now()) return Promise.resolve(hit.value);
    const pending = this.#loading.get(key);
    if (pending !== undefined) return pending;
    // Async, so a loader that throws at once (the review limit) rejects like any other failure.
    const loading = (async () => load())()
      .then((value) => {
        this.#entries.delete(key);
        this.#entries.set(key, { value, expires: this.#now() + AUTH_CACHE_MS });
        if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
        return value;
      })
      .finally(() => this.#loading.delete(key));
    this.#loading.set(key, loading);
    return loading;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** How long a token that was accepted stays known (its checks then spend the known budget): a session's life, and more. */
const KNOWN_TOKEN_MS = 60 * 60 * 1000;
const MAX_KNOWN_TOKENS = 10_000;

/**
 * Answers about tokens, good and bad alike, are cached for AUTH_CACHE_MS, so a busy panel, or a
 * flood of garbage tokens repeated, costs the API server nothing more. A token's rights come
 * with its answer (kubernetes mode) or are fixed (token, none): nothing more to cache.
 */
export class CachedAuth implements AdminAuth {
  readonly #identities: TtlCache<Identity | null>;
  readonly #inner: AdminAuth;
  /** Digests of the tokens accepted lately, and until when they count as known. */
  readonly #known = new Map<string, number>();
  readonly #now: () => number;
  constructor(inner: AdminAuth, now: () => number = Date.now) {
    this.#inner = inner;
    this.#now = now;
    this.#identities = new TtlCache(now);
  }

  get mode() {
    return this.#inner.mode;
  }

  /** Whether this token's answer is cached: checking it again costs nothing. */
  knows(token: string): boolean {
    return this.#identities.has(digest(token).toString('hex'));
  }

  authenticate(token: string) {
    const key = digest(token).toString('hex');
    return this.#identities.get(key, async () => {
      const identity = await this.#inner.authenticate(token, (this.#known.get(key) ?? 0) > this.#now() ? 'known' : 'stranger');
      if (identity !== null) {
        this.#known.delete(key);
        this.#known.set(key, this.#now() + KNOWN_TOKEN_MS);
        if (this.#known.size > MAX_KNOWN_TOKENS) this.#known.delete(this.#known.keys().next().value!);
      } else this.#known.delete(key);
      return identity;
    });
  }

  authorize(identity: Identity, access: Access) {
    return this.#inner.authorize(identity, access);
  }

  problem() {
    return this.#inner.problem();
  }

  close() {
    this.#inner.close();
  }
}

/**
 * At most this many reviews a second leave one admin pod, whatever callers send (each is a
 * SelfSubjectReview and two SelfSubjectAccessReviews): as many again for known tokens (sessions,
 * returning callers) as for strangers, each budget apart, so a flood of garbage tokens never
 * locks out the people already signed in.
 */
const REVIEWS_PER_SECOND = 5;
const REVIEW_BURST = 20;

/**
 * Whoever the API server lets patch the switch may toggle, and whoever it lets get it may read,
 * and nobody else: `review` asks the API server with the token's own credentials
 * (k8s/access-review.ts), so the admin needs no cluster-wide permission to check it.
 */
export function kubernetesAuth(review: (token: string) => Promise<Identity | null>, now: () => number = Date.now): AdminAuth {
  const reviews = new RateLimiter({ perMinute: REVIEWS_PER_SECOND * 60, burst: REVIEW_BURST, now });
  return {
    mode: 'kubernetes',
    authenticate: (token, standing = 'stranger') => {
      const allowed = reviews.take(standing);
      if (!allowed.ok) throw new RateLimitedError('reviews', allowed.retryAfterSeconds);
      return review(token);
    },
    // Answered with the identity, by the same review: the token's own rights, as fresh as it.
    authorize: async (identity, access) => identity.may?.[access] === true,
    problem: () => null,
    close: () => {},
  };
}

/** How often the token file is looked at for readiness, besides each sign-in. */
const TOKEN_FILE_CHECK_MS = 2_000;

/**
 * Static tokens from a file, such as a mounted Secret: one per line, optionally `token,name`.
 * The file is re-read when it changes, so a rotated Secret takes effect without a restart.
 * While it cannot be read the admin pod is not ready, and sign-ins answer 503.
 * Every comparison is constant-time over every token.
 */
export async function tokenFileAuth(file: string, onProblem: (error: unknown) => void = () => {}): Promise<AdminAuth> {
  let loaded: { mtimeMs: number; tokens: { digest: Buffer; name: string }[] } | null = null;
  let problem: string | null = null;
  const tokens = async () => {
    try {
      const { mtimeMs } = await stat(file);
      if (loaded?.mtimeMs !== mtimeMs) {
        const lines = (await readFile(file, 'utf8')).split('\n').map((line) => line.trim());
        const entries = lines.filter((line) => line !== '' && !line.startsWith('#'));
        loaded = {
          mtimeMs,
          tokens: entries.map((line, index) => {
            const [token = '', name] = line.split(',', 2).map((part) => part.trim());
            return { digest: digest(token), name: name || `token-${index + 1}` };
          }),
        };
      }
      problem = null;
      return loaded.tokens;
    } catch (error) {
      // The path stays in the log; callers and /status learn only which setting is at fault.
      if (problem === null) onProblem(error);
      problem = `the token file (ADMIN_TOKEN_FILE) cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      loaded = null;
      throw new AdminUnavailableError(problem);
    }
  };
  await tokens().catch(() => {});
  const check = setInterval(() => void tokens().catch(() => {}), TOKEN_FILE_CHECK_MS);
  check.unref();
  return {
    mode: 'token',
    async authenticate(token) {
      const offered = digest(token);
      let match: string | null = null;
      for (const entry of await tokens()) {
        if (timingSafeEqual(entry.digest, offered) && match === null) match = entry.name;
      }
      return match === null ? null : { user: `token:${match}`, groups: [] };
    },
    authorize: async () => true,
    problem: () => problem,
    close: () => clearInterval(check),
  };
}

/** No authentication at all: only ever allowed on a loopback address (checked at start-up). */
export function noAuth(): AdminAuth {
  return {
    mode: 'none',
    authenticate: async () => ({ user: 'local', groups: [] }),
    authorize: async () => true,
    problem: () => null,
    close: () => {},
  };
}
