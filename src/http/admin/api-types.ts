import type { HistoryEntry } from '../../config/writer.ts';
import type { AdminAuthMode } from './auth.ts';
import type { describeAll } from './routes/maintenance.ts';

export type { ApiError } from './requests.ts';

/** GET and PUT /admin/api/maintenance, and every `state` event of the stream. */
export type MaintenanceView = ReturnType<typeof describeAll>;

/** GET and POST /admin/session. */
export interface SessionView {
  user: string;
  /** Sent back in X-CSRF-Token on every change; null without a session (ADMIN_AUTH=none). */
  csrfToken: string | null;
  mode: AdminAuthMode;
}

/** POST /admin/api/bypass-links. */
export interface BypassLinkView {
  id: string;
  expiresAt: string;
  /** The link's path on the application; `url` is it on PUBLIC_URL, when that is set. */
  path: string;
  url: string | null;
  reason: string;
}

/**
 * What each call of the panel answers on success: the panel's script (assets/admin/panel.js)
 * is checked against this by `npm run typecheck`, so a renamed field fails there.
 */
export interface AdminApi {
  'GET /admin/api/maintenance': MaintenanceView;
  'PUT /admin/api/maintenance': MaintenanceView;
  'GET /admin/session': SessionView;
  'POST /admin/session': SessionView;
  'DELETE /admin/session': null;
  'POST /admin/api/bypass-links': BypassLinkView;
  'GET /admin/api/history': { changes: HistoryEntry[] };
}
