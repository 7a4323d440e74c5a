import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { mayAccessConfigMap, reviewToken, type Identity } from '../../k8s/access-review.ts';

export type { Identity };
export type Access = 'get' | 'patch';

export interface AdminAuth {
  readonly mode: 'kubernetes' | 'token' | 'none';
  /** Who this bearer token belongs to, or null if it is not accepted. */
  authenticate(token: string): Promise<Identity | null>;
  /** May this identity read (get) or change (patch) the maintenance config? */
  authorize(identity: Identity, access: Access): Promise<boolean>;
}

const CACHE_MS = 10_000;

/** A small time-bounded cache, so a busy panel does not send a review per request. */
class TtlCache<T> {
  readonly #entries = new Map<string, { value: T; expires: number }>();
  async get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    const value = await load();
    if (this.#entries.size > 1000) this.#entries.clear();
    this.#entries.set(key, { value, expires: now + CACHE_MS });
    return value;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whoever cluster RBAC lets patch the ConfigMap may toggle, and nobody else: the token is
 * checked with TokenReview, the permission with SubjectAccessReview.
 */
export function kubernetesAuth(namespace: string, name: string): AdminAuth {
  const identities = new TtlCache<Identity | null>();
  const decisions = new TtlCache<boolean>();
  return {
    mode: 'kubernetes',
    authenticate: (token) => identities.get(digest(token).toString('hex'), () => reviewToken(token)),
    authorize: (identity, access) =>
      decisions.get(`${access} ${identity.user} ${identity.groups.join(',')}`, () =>
        mayAccessConfigMap(identity, access, namespace, name),
      ),
  };
}

/**
 * Static tokens from a file, such as a mounted Secret: one per line, optionally `token,name`.
 * The file is re-read when it changes, so a rotated Secret takes effect without a restart.
 * Every comparison is constant-time over every token.
 */
export function tokenFileAuth(file: string): AdminAuth {
  let loaded: { mtimeMs: number; tokens: { digest: Buffer; name: string }[] } | null = null;
  const tokens = async () => {
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
    return loaded.tokens;
  };
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
  };
}

/** No authentication at all: only ever allowed on a loopback address (checked at start-up). */
export function noAuth(): AdminAuth {
  return {
    mode: 'none',
    authenticate: async () => ({ user: 'local', groups: [] }),
    authorize: async () => true,
  };
}
