import type { z } from 'zod';
import type { apiErrorSchema, bypassLinkViewSchema, historyViewSchema, maintenanceViewSchema, sessionViewSchema } from './contract.ts';

/** Every error answer: what went wrong, in words, and for invalid_request the field at fault. */
export type ApiError = z.infer<typeof apiErrorSchema>;

/** GET and PUT /admin/api/maintenance, and every `state` event of the stream. */
export type MaintenanceView = z.infer<typeof maintenanceViewSchema>;

/** GET and POST /admin/session. */
export type SessionView = z.infer<typeof sessionViewSchema>;

/** POST /admin/api/bypass-links. */
export type BypassLinkView = z.infer<typeof bypassLinkViewSchema>;

/** GET /admin/api/history. */
export type HistoryView = z.infer<typeof historyViewSchema>;

/**
 * What each call of the panel answers on success, from the contract (contract.ts): the panel's
 * script (assets/admin/panel.js) is checked against this by `npm run typecheck`, so a renamed
 * field fails there.
 */
export interface AdminApi {
  'GET /admin/api/maintenance': MaintenanceView;
  'PUT /admin/api/maintenance': MaintenanceView;
  'GET /admin/session': SessionView;
  'POST /admin/session': SessionView;
  'DELETE /admin/session': null;
  'POST /admin/api/bypass-links': BypassLinkView;
  'GET /admin/api/history': HistoryView;
}
