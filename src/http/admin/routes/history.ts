import { Hono } from 'hono';
import type { ConfigWriter } from '../../../config/writer.ts';
import type { AdminEnv, Guards } from '../guards.ts';
import type { HistoryView } from '../api-types.ts';

/** The latest changes, newest first: who, when, why and what, changes made outside the tools included. */
export function historyRoutes(deps: { writer: ConfigWriter; guards: Guards }): Hono<AdminEnv> {
  const { writer, guards } = deps;
  return new Hono<AdminEnv>().get('/', guards.identify, guards.authorize('get'), async (c) =>
    c.json({ changes: await writer.history() } satisfies HistoryView),
  );
}
