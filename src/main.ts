import { closeSync, openSync } from 'node:fs';
import { pino } from 'pino';
import { EnvError, loadEnv, type Env } from './env.ts';
import { PortInUseError } from './http/listener.ts';
import { startServer } from './server.ts';
import { NoKubernetesCredentialsError } from './k8s/client.ts';

/** The settings that let this role run without a cluster, for the one line a start-up error gets. */
function withoutCluster(env: Env): string {
  if (env.ROLE === 'admin' && env.CONFIG_WRITER === 'api')
    return 'to run the admin without a cluster, set CONFIG_WRITER=directory (it writes CONFIG_DIR) and ADMIN_AUTH=token or none';
  if (env.ROLE === 'admin' && env.ADMIN_AUTH === 'kubernetes')
    return 'without a cluster, set ADMIN_AUTH=token (with ADMIN_TOKEN_FILE) or none';
  return 'without a cluster, set CONFIG_SOURCE=volume and CONFIG_DIR';
}

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
  else if (error instanceof NoKubernetesCredentialsError) log.fatal(`start-up failed: ${error.message}; ${withoutCluster(env)}`);
  else log.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
