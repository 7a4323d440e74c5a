// The floor of the gate's design: Node's http server and undici's pool, as the gate uses them,
// forwarding every request to UPSTREAM with no check at all (no framing rules, no forwarding
// headers, no state, no timeouts). What the gate costs above this is its own rules; what this
// costs is the runtime's. Not a proxy to deploy: it trusts everything it is sent.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env.UPSTREAM);
const server = createServer((req, res) => {
  pool.dispatch(
    { path: req.url, method: req.method, headers: req.rawHeaders, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    {
      onRequestStart() {},
      onResponseStart(controller, statusCode, _headers, statusMessage) {
        res.writeHead(
          statusCode,
          statusMessage,
          controller.rawHeaders.map((item) => item.toString('latin1')),
        );
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) {
          controller.pause();
          res.once('drain', () => controller.resume());
        }
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        res.destroy();
      },
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
