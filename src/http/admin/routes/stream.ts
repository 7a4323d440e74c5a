import { Hono } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { ConfigWriter, StoredConfig } from '../../../config/writer.ts';
import type { CachedAuth } from '../auth.ts';
import { fail } from '../errors.ts';
import type { AdminEnv, Guards } from '../guards.ts';
import type { SessionStore } from '../sessions.ts';
import { describeAll, type ViewSources } from './maintenance.ts';

/** Each open panel holds one stream; a bound keeps forgotten tabs and stale clients from piling up. */
export const MAX_STREAMS = 100;
/** One identity's share of them: a single caller (a script, a tab left in a loop) cannot hold them all. */
export const MAX_STREAMS_PER_IDENTITY = 5;
const HEARTBEAT_MS = 15_000;

export interface StreamDeps {
  auth: CachedAuth;
  sessions: SessionStore;
  writer: ConfigWriter;
  guards: Guards;
  view: ViewSources;
  now: () => number;
  maxStreams?: number;
  maxStreamsPerIdentity?: number;
  heartbeatMs?: number;
}

/**
 * `state` events on every change of the switch or the fleet, and a heartbeat that checks the
 * caller again. The routes, and `close()` to end every open stream at shutdown.
 */
export function streamRoutes(deps: StreamDeps): { routes: Hono<AdminEnv>; close(): void } {
  const { auth, sessions, writer, guards, view, now } = deps;
  const { live } = view;
  const streams = new Set<SSEStreamingApi>();
  const streamsByUser = new Map<string, number>();
  const routes = new Hono<AdminEnv>().get('/', guards.identify, guards.authorize('get'), async (c) => {
    const { identity, session } = c.get('caller');
    const perIdentity = deps.maxStreamsPerIdentity ?? MAX_STREAMS_PER_IDENTITY;
    const held = streamsByUser.get(identity.user) ?? 0;
    if (held >= perIdentity) {
      return fail(
        c,
        429,
        {
          error: 'rate_limited',
          message: `${identity.user} already has ${held} open streams, the most one identity may hold (${perIdentity}); close other panels`,
        },
        { 'Retry-After': '30' },
      );
    }
    if (streams.size >= (deps.maxStreams ?? MAX_STREAMS)) {
      return fail(c, 503, {
        error: 'unavailable',
        message: `too many open streams (${streams.size}); close other panels, or reload later`,
      });
    }
    streamsByUser.set(identity.user, held + 1);
    const release = () => {
      const left = (streamsByUser.get(identity.user) ?? 1) - 1;
      if (left <= 0) streamsByUser.delete(identity.user);
      else streamsByUser.set(identity.user, left);
    };
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('Authorization') ?? '')?.[1] ?? null;
    return streamSSE(c, async (stream) => {
      streams.add(stream);
      let changed = true;
      // The stored config is read again only when the state changed, not for every endpoint that moves.
      let stored: StoredConfig | null = null;
      let wake: (() => void) | null = null;
      const unsubscribe = live?.onChange((what) => {
        changed = true;
        if (what === 'state') stored = null;
        wake?.();
      });
      stream.onAbort(() => wake?.());
      try {
        let id = 0;
        while (!stream.aborted) {
          if (changed) {
            changed = false;
            stored ??= await writer.read();
            await stream.writeSSE({ event: 'state', id: String(++id), data: JSON.stringify(describeAll(stored, view)) });
          } else {
            // A heartbeat, and the same checks as any request: a revoked token, an ended session or
            // a permission taken away (a RoleBinding deleted) ends the stream within the auth cache's bound.
            const token = bearer ?? session?.token ?? null;
            const still = token === null ? identity : await auth.authenticate(token);
            if (still === null || (session !== null && !sessions.find(session.id))) break;
            if (!(await auth.authorize(still, 'get'))) break;
            await stream.writeSSE({ event: 'heartbeat', data: new Date(now()).toISOString() });
          }
          if (!changed && !stream.aborted) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, deps.heartbeatMs ?? HEARTBEAT_MS);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = null;
          }
        }
      } finally {
        unsubscribe?.();
        streams.delete(stream);
        release();
      }
    });
  });
  return {
    routes,
    close() {
      for (const stream of streams) stream.abort();
    },
  };
}
