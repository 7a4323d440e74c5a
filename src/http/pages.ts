import { createHash } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const styles = `
  :root { color-scheme: light dark; --accent: #92400e; --serving: #065f46; }
  @media (prefers-color-scheme: dark) { :root { --accent: #fbbf24; --serving: #34d399; } }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 2rem;
         font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: Canvas; color: CanvasText; }
  main { max-width: 38rem; width: 100%; }
  .badge { display: inline-block; padding: .15rem .6rem; border-radius: 999px; font-size: .8rem;
           font-weight: 600; letter-spacing: .03em; text-transform: uppercase;
           background: color-mix(in srgb, var(--accent) 18%, transparent); color: var(--accent); }
  .badge.serving { --accent: var(--serving); }
  h1 { font-size: 1.9rem; line-height: 1.25; margin: .6rem 0 1rem; }
  p { margin: 0 0 1rem; white-space: pre-line; }
  .meta { font-size: .85rem; opacity: .7; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
`;

/**
 * The 503 page's headers: its one inline stylesheet is allowed by its hash, and nothing else
 * may load, run, or frame it; a lasting maintenance page must not replace the site in search
 * indexes either.
 */
export const MAINTENANCE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    `style-src 'sha256-${createHash('sha256').update(styles).digest('base64')}'`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'X-Robots-Tag': 'noindex',
};

/**
 * The headers of your own 503 page (MAINTENANCE_PAGE_HTML): its styles may be inline or on
 * https, its images and fonts inline (data:) or on https; no script runs, nothing is posted, and
 * nothing frames it. The rest as the default page's.
 */
export const CUSTOM_PAGE_HEADERS: Readonly<Record<string, string>> = {
  ...MAINTENANCE_PAGE_HEADERS,
  'Content-Security-Policy': [
    "default-src 'none'",
    "style-src 'unsafe-inline' https:",
    'img-src data: https:',
    'font-src data: https:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};

/**
 * The start of every page this service writes, up to `</head>`: the 503 and error pages and the
 * admin panel alike. `title` is one of our own constants; `extra` is our own markup (the styles,
 * or the panel's links and script).
 */
export function documentHead(title: string, extra: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
${extra}
</head>`;
}

function layout(title: string, body: Html): Html {
  // raw(): the head and the stylesheet are ours and constant; html`` would escape the
  // stylesheet's quotes, and the browser would then drop the whole font rule.
  return html`${raw(documentHead(title, `<style>${styles}</style>`))}
<body><main>${body}</main></body>
</html>`;
}

/**
 * "22:00 UTC" within a day, else "2026-11-30 22:00 UTC". A bound between minutes is rounded up,
 * never down: a window that ends at 08:00:37 is still on at 08:00, so the page says 08:01.
 */
export function formatUntil(endMs: number, nowMs: number): string {
  const roundedUp = Math.ceil(endMs / 60_000) * 60_000;
  // Past 9999-12-31 an ISO date has six digits; the last minute of that year is as late as it gets.
  const shown = new Date(roundedUp).getUTCFullYear() > 9999 ? endMs : roundedUp;
  const iso = new Date(shown).toISOString();
  const time = `${iso.slice(11, 16)} UTC`;
  return endMs - nowMs < 24 * 3600 * 1000 ? time : `${iso.slice(0, 10)} ${time}`;
}

export interface MaintenancePageContent {
  message: string;
  retryAfterSeconds: number;
  /** The window's end, when maintenance is on because of a window that has one. */
  until: string | null;
  /** Your own page (MAINTENANCE_PAGE_HTML), its placeholders filled in escaped; null for the default page. */
  template?: string | null;
}

let lastPage: { key: string; template: string | null; html: string } | null = null;

/** Text made safe for HTML, in an element or a quoted attribute alike. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Your own page, with `{{message}}`, `{{retryAfterSeconds}}` and `{{until}}` filled in, escaped. */
function customPage(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? escapeHtml(values[name]!) : whole,
  );
}

/**
 * The 503 page. During maintenance every request gets it (and the page role serves nothing
 * else), so the last rendering is reused while what it says stays the same.
 */
export function maintenancePage({ message, retryAfterSeconds, until, template = null }: MaintenancePageContent): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const key = `${template === null ? minutes : retryAfterSeconds}\n${until}\n${message}`;
  if (lastPage?.key === key && lastPage.template === template) return lastPage.html;
  if (template !== null) {
    const page = customPage(template, { message, retryAfterSeconds: String(retryAfterSeconds), until: until ?? '' });
    lastPage = { key, template, html: page };
    return page;
  }
  const hint = until !== null ? `until ${until}` : minutes <= 1 ? 'in about a minute' : `in about ${minutes} minutes`;
  const page = String(
    layout(
      'Down for maintenance',
      html`<span class="badge">Maintenance</span>
<h1>We'll be back soon</h1>
<p>${message}</p>
<p class="meta">${until !== null ? html`Maintenance lasts ${hint}.` : html`Please try again ${hint}.`}</p>`,
    ),
  );
  lastPage = { key, template, html: page };
  return page;
}

/**
 * The 503 page of a write refused in read-only mode. No Refresh: reloading would send the
 * write again; the reader goes back and keeps browsing.
 */
export function readOnlyPage({ message, retryAfterSeconds, until }: Omit<MaintenancePageContent, 'template'>): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const hint = until !== null ? `after ${until}` : minutes <= 1 ? 'in about a minute' : `in about ${minutes} minutes`;
  return String(
    layout(
      'Read-only for maintenance',
      html`<span class="badge">Read-only</span>
<h1>Changes are paused for a moment</h1>
<p>${message}</p>
<p class="meta">You can keep browsing: only changes are not accepted right now. Please try this again ${hint}.</p>`,
    ),
  );
}

/** Rendered once: a plain string, which Hono sends without the async path an HtmlEscapedString takes. */
export function demoPage(podName: string, role: string): string {
  return String(
    layout(
      'Sample app',
      html`<span class="badge serving">Serving</span>
<h1>Hello from the sample app</h1>
<p>This page is served by pod <code>${podName}</code> in the <code>${role}</code> role.</p>
<p class="meta">Probes: <code>/livez</code>, <code>/readyz</code> · state: <code>/status</code> · metrics: <code>/metrics</code></p>`,
    ),
  );
}

/** What the gate answers when the application behind it refuses, fails or is too slow. */
export const UPSTREAM_ERROR_PAGE: Record<502 | 504, string> = {
  502: String(
    layout(
      'Bad gateway',
      html`<span class="badge">Error 502</span>
<h1>The application is not answering</h1>
<p>It could not be reached, or it closed the connection. Please try again in a moment.</p>`,
    ),
  ),
  504: String(
    layout(
      'Gateway timeout',
      html`<span class="badge">Error 504</span>
<h1>The application took too long to answer</h1>
<p>Please try again in a moment.</p>`,
    ),
  ),
};
