import { Hono } from 'hono';
import { loadPanelAssets, panelPage } from '../panel.ts';
import type { AdminEnv } from '../guards.ts';

/** The panel's page and its three assets, read once. */
export function panelRoutes(): Hono<AdminEnv> {
  const assets = loadPanelAssets();
  return new Hono<AdminEnv>()
    .get('/', (c) => c.html(panelPage()))
    .get('/assets/panel.js', (c) => c.body(assets.script, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }))
    .get('/assets/panel.css', (c) => c.body(assets.styles, 200, { 'Content-Type': 'text/css; charset=utf-8' }))
    .get('/assets/favicon.svg', (c) => c.body(assets.icon, 200, { 'Content-Type': 'image/svg+xml' }));
}
