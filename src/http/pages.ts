import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const styles = `
  :root { color-scheme: light dark; --accent: #d97706; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 2rem;
         font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: Canvas; color: CanvasText; }
  main { max-width: 38rem; width: 100%; }
  .badge { display: inline-block; padding: .15rem .6rem; border-radius: 999px; font-size: .8rem;
           font-weight: 600; letter-spacing: .03em; text-transform: uppercase;
           background: color-mix(in srgb, var(--accent) 18%, transparent); color: var(--accent); }
  h1 { font-size: 1.9rem; line-height: 1.25; margin: .6rem 0 1rem; }
  p { margin: 0 0 1rem; white-space: pre-line; }
  .meta { font-size: .85rem; opacity: .7; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
`;

function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${styles}</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

let lastPage: { message: string; minutes: number; html: string } | null = null;

/**
 * The 503 page. During maintenance every request gets it (and the page role serves nothing
 * else), so the last rendering is reused while the message and the minutes stay the same.
 */
export function maintenancePage(message: string, retryAfterSeconds: number): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  if (lastPage?.message === message && lastPage.minutes === minutes) return lastPage.html;
  const hint = minutes <= 1 ? 'about a minute' : `about ${minutes} minutes`;
  const page = String(
    layout(
      'Down for maintenance',
      html`<span class="badge">Maintenance</span>
<h1>We'll be back soon</h1>
<p>${message}</p>
<p class="meta">Please try again in ${hint}.</p>`,
    ),
  );
  lastPage = { message, minutes, html: page };
  return page;
}

/** Rendered once: a plain string, which Hono sends without the async path an HtmlEscapedString takes. */
export function demoPage(podName: string, role: string): string {
  return String(layout(
    'Sample app',
    html`<span class="badge" style="--accent:#059669">Serving</span>
<h1>Hello from the sample app</h1>
<p>This page is served by pod <code>${podName}</code> in the <code>${role}</code> role.</p>
<p class="meta">Probes: <code>/livez</code>, <code>/readyz</code> · state: <code>/status</code> · metrics: <code>/metrics</code></p>`,
  ));
}
