// The application behind the proxies in the proxy benchmark: a minimal Node http server that
// answers every request with a fixed 1 KiB page, as fast as Node can.
import { createServer } from 'node:http';

const body = Buffer.alloc(1024, 'x');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
