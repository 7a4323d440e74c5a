import type { Context } from 'hono';
import { accepts } from 'hono/accepts';
import { DEFAULT_MESSAGE, type MaintenanceConfig } from '../config/parse.ts';
import { retryAfterSeconds, type MaintenanceCause } from '../maintenance/policy.ts';
import type { Bypass } from './bypass.ts';
import { CUSTOM_PAGE_HEADERS, MAINTENANCE_PAGE_HEADERS, formatUntil, maintenancePage, readOnlyPage } from './pages.ts';
import { READ_ONLY_HEADER, READ_ONLY_VALUE } from './read-only.ts';
import { statusBlock } from './status-block.ts';

/**
 * The one place the maintenance answer is written: the 503 page (HTML or JSON, by Accept), the
 * refusal of an upgrade during maintenance, and the visit of a bypass link. The user role, the
 * page role and the gate all answer with these.
 */

const HTML = 'text/html; charset=UTF-8';

/**
 * When the 503 page reloads itself (the Refresh header, which browsers follow as they do the
 * meta tag): never before Retry-After, and spread over a fifth of it more, so the browsers of
 * users who all met the page at once do not all come back in the same second.
 */
export function reloadAfterSeconds(retryAfter: number, random: () => number = Math.random): number {
  return retryAfter + Math.floor(random() * Math.max(1, Math.ceil(retryAfter / 5)));
}

/** What a refusal answers: the whole app is in maintenance, or it is read-only and this request writes. */
export type RefusalKind = 'maintenance' | 'read-only';

function maintenanceJson(config: MaintenanceConfig | null, retryAfter: number, kind: RefusalKind = 'maintenance'): string {
  return JSON.stringify({ status: kind, message: config?.message ?? DEFAULT_MESSAGE, retryAfterSeconds: retryAfter });
}

/** `/__maintenance/bypass?token=…`: always a redirect to `/`, with the cookie only for a good token. */
export function bypassVisit(c: Context, bypass: Bypass): Response {
  const { location, setCookie } = bypass.visit(c.req.query('token'));
  const headers: Record<string, string> = { Location: location, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };
  if (setCookie !== null) headers['Set-Cookie'] = setCookie;
  return new Response(null, { status: 302, headers });
}

/** A bypass link is only ever visited (GET or HEAD); any other method there is a mistake, whatever the state. */
export function bypassMethodNotAllowed(): Response {
  return new Response('Method Not Allowed: a bypass link is visited with GET\n', {
    status: 405,
    headers: { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=UTF-8', 'Cache-Control': 'no-store' },
  });
}

/** Before the first config is known, the answer is the default page, asking for a minute. */
const STARTING_RETRY_AFTER_SECONDS = 60;

/**
 * The 503 answer; with no config yet (a gate still starting), the default page. In read-only
 * mode, the read-only page (always this service's own: your page speaks of the whole site being
 * away), marked with the read-only header as every answer then is. Built as a
 * Response with a plain header object, which @hono/node-server writes out directly; Hono's
 * c.header() or secureHeaders() go through a Headers object and cost this path a quarter to a
 * half of its throughput (measured).
 */
export function maintenanceResponse(
  c: Context,
  config: MaintenanceConfig | null,
  now: number,
  cause: MaintenanceCause | null,
  kind: RefusalKind = 'maintenance',
) {
  const retryAfter = config === null ? STARTING_RETRY_AFTER_SECONDS : retryAfterSeconds(config, now);
  const type = accepts(c, {
    header: 'Accept',
    supports: ['text/html', 'application/json'],
    default: 'text/html',
  });
  if (type === 'application/json') {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Retry-After': String(retryAfter),
      'Cache-Control': 'no-store',
    };
    if (kind === 'read-only') headers[READ_ONLY_HEADER] = READ_ONLY_VALUE;
    return new Response(maintenanceJson(config, retryAfter, kind), { status: 503, headers });
  }
  const until = cause === 'window' && config !== null && config.windowEnd !== null ? formatUntil(config.windowEnd, now) : null;
  if (kind === 'read-only') {
    return new Response(readOnlyPage({ message: config?.message ?? DEFAULT_MESSAGE, retryAfterSeconds: retryAfter, until }), {
      status: 503,
      headers: {
        'Content-Type': HTML,
        'Retry-After': String(retryAfter),
        'Cache-Control': 'no-store',
        [READ_ONLY_HEADER]: READ_ONLY_VALUE,
        ...MAINTENANCE_PAGE_HEADERS,
      },
    });
  }
  const template = config?.pageHtml ?? null;
  return new Response(maintenancePage({ message: config?.message ?? DEFAULT_MESSAGE, retryAfterSeconds: retryAfter, until, template }), {
    status: 503,
    headers: {
      'Content-Type': HTML,
      'Retry-After': String(retryAfter),
      Refresh: String(reloadAfterSeconds(retryAfter)),
      'Cache-Control': 'no-store',
      ...(template === null ? MAINTENANCE_PAGE_HEADERS : CUSTOM_PAGE_HEADERS),
    },
  });
}

/**
 * The 503 for an Upgrade request (a WebSocket) held by maintenance, as raw bytes for the socket:
 * JSON, since no browser shows a page for it; the connection closes after it.
 */
export function upgradeRefusal(config: MaintenanceConfig | null, now: number, kind: RefusalKind = 'maintenance'): string {
  const retryAfter = config === null ? STARTING_RETRY_AFTER_SECONDS : retryAfterSeconds(config, now);
  const body = maintenanceJson(config, retryAfter, kind);
  const headers = ['Content-Type', 'application/json', 'Retry-After', String(retryAfter), 'Cache-Control', 'no-store'];
  if (kind === 'read-only') headers.push(READ_ONLY_HEADER, READ_ONLY_VALUE);
  headers.push('Content-Length', String(Buffer.byteLength(body)), 'Connection', 'close');
  return statusBlock(503, 'Service Unavailable', headers) + body;
}
