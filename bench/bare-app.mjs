// The baseline: a bare Hono app with one trivial route, on the same adapter and runtime.
// It answers with the body it is given, the same page the service serves at `/`, so the
// ratio measures what the service adds around its routes, not the size of a page.
// Plain JavaScript, so neither side pays for type stripping.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
const body = process.env.BARE_BODY ?? 'ok';
app.get('/', (c) => c.html(body));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: info.port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
