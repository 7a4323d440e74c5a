import { closeSync, openSync } from 'node:fs';
import { pino } from 'pino';
import { EnvError, loadEnv, type Env } from './env.ts';
import { PortInUseError } from './http/listener.ts';
import { startServer } from './server.ts';

let env: Env;
try {
  env = loadEnv();
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const log = pino({ level: env.LOG_LEVEL, base: { pod: env.POD_NAME, role: env.ROLE } });

process.on('uncaughtException', (error) => {
  log.fatal({ err: error }, 'uncaught exception');
  process.exit(1);
});

try {
  const server = await startServer(env, log);
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received');
    server.shutdown(env.SHUTDOWN_DELAY_SECONDS * 1000).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by a supervisor over IPC (local mode): when it dies, so does this process. Its
  // stdout was a pipe to the supervisor and is broken now: fd 1 becomes /dev/null first, or
  // pino's flush at exit would retry the write to the dead pipe for ever.
  if (process.channel) {
    process.once('disconnect', () => {
      closeSync(1);
      openSync('/dev/null', 'w');
      stop('SIGTERM');
    });
  }
} catch (error) {
  if (error instanceof PortInUseError) log.fatal(`start-up failed: ${error.message}`);
  else log.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
