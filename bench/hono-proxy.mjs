// The alternative the gate was measured against: hono/proxy (fetch-based) on @hono/node-server,
// forwarding every request to UPSTREAM. Plain JavaScript, so it pays for no type stripping.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { proxy } from 'hono/proxy';

const upstream = process.env.UPSTREAM;
const app = new Hono();
app.all('*', (c) => proxy(`${upstream}${c.req.path}`, { ...c.req, headers: { ...c.req.header(), 'X-Forwarded-For': '127.0.0.1' } }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: info.port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
