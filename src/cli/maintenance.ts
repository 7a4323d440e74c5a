import { isSea } from 'node:sea';
import { pino, type Logger } from 'pino';
import { systemClock } from '../clock.ts';
import { CONFIG_KEYS, parseConfig, switchMode } from '../config/parse.ts';
import {
  applyChange,
  ConfigNotFoundError,
  InvalidConfigChangeError,
  ReadOnlyNotEnforcedError,
  updateConfig,
  VersionConflictError,
} from '../config/writer.ts';
import { KubernetesApiError } from '../k8s/client.ts';
import { decide } from '../maintenance/policy.ts';
import { HELP, parseCommandLine, UsageError, type Request } from './args.ts';
import { checkValues, describeIssues, keptValues, planChange, usersGet } from './changes.ts';
import { ClusterTarget } from './cluster.ts';
import { LocalTarget } from './local-target.ts';
import { CliError, processOutput, safe, type Output } from './output.ts';

/**
 * `kubectl maintenance` (the plugin, a single executable) and `npm run maintenance` (local
 * mode): one program, two targets, one set of commands, rules, messages and exit codes.
 */
export async function main(argv: readonly string[], out: Output = processOutput): Promise<number> {
  const local = argv.some((arg) => arg === '--local' || arg === '--dir' || arg.startsWith('--dir='));
  const program = local ? 'maintenance' : 'kubectl maintenance';
  let target: ClusterTarget | LocalTarget | null = null;
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.help) {
      out.line(HELP);
      return 0;
    }
    const { request } = parsed;
    checkValues(request);
    target =
      request.target.kind === 'local'
        ? new LocalTarget(request.target.dir, systemClock)
        : await ClusterTarget.connect(request.target, systemClock, problemLog(program, out));
    return await run(request, target, out);
  } catch (thrown) {
    const error = thrown instanceof ConfigNotFoundError && target instanceof LocalTarget ? target.notFound() : thrown;
    if (error instanceof UsageError) {
      out.problem(`${program}: ${error.message}`);
      return 2;
    }
    if (error instanceof CliError) {
      out.problem(`${program}: ${error.message}`);
      for (const line of error.more) out.problem(line);
      return error.exitCode;
    }
    // The API server's own words, or the system's: one line, never a stack trace.
    out.problem(`${program}: ${safe(error instanceof KubernetesApiError ? error.message : String((error as Error).message ?? error))}`);
    return 1;
  }
}

async function run(request: Request, target: ClusterTarget | LocalTarget, out: Output): Promise<number> {
  switch (request.command) {
    case 'status':
      await target.status(out);
      return 0;
    case 'history': {
      const entries = await target.writer.history();
      if (entries.length === 0) out.line('no change recorded yet');
      for (const { at, by, what, outside, reason } of entries)
        out.line(
          `${safe(at)}  ${safe(by)} changed ${safe(what)}${outside ? ' (outside the panel and plugin)' : ''}${reason ? `: ${safe(reason)}` : ''}`,
        );
      return 0;
    }
    case 'bypass-link':
      if (!(target instanceof ClusterTarget)) throw new UsageError('bypass-link is for a cluster');
      await target.bypassLink(request, out);
      return 0;
    default:
      return change(request, target, out);
  }
}

/** on, off, schedule and repair: read, plan by the shared rules, write against the version read. */
async function change(request: Request, target: ClusterTarget | LocalTarget, out: Output): Promise<number> {
  const stored = await target.writer.read();
  const now = systemClock.now();
  const plan = planChange(request, stored.data, now);
  const waits = request.waitMs !== undefined && target instanceof ClusterTarget;
  if (!plan.write) {
    out.line(`${plan.said} in ${target.where}; nothing was written`);
    const current = parseConfig(stored.data);
    if (!waits || !current.ok) return 0;
    return (await target.waitForFleet(decide(current.config, now).active, request, out)) ? 0 : 4;
  }
  const expectedVersion = request.ifVersion ?? stored.version;
  const reason = request.reason ?? 'local toggle';
  const actor = target.actor();
  let written: Awaited<ReturnType<typeof updateConfig>>;
  try {
    written = await updateConfig(target.writer, { data: plan.data, actor, reason, expectedVersion });
  } catch (error) {
    if (error instanceof VersionConflictError) throw target.conflict(expectedVersion);
    if (error instanceof ReadOnlyNotEnforcedError) throw new CliError(`nothing written: ${error.message}`);
    if (error instanceof InvalidConfigChangeError) {
      const merged = applyChange(stored.data, plan.data);
      throw new CliError(`nothing written: ${describeIssues(error.issues, merged, new Set(Object.keys(plan.data)))}`, 2);
    }
    throw error;
  }
  const after = parseConfig(written.data);
  if (!after.ok) throw new CliError(`the written config is invalid: ${after.error}`);
  const version = target.versionNote(written.version);
  const by = `, by ${safe(actor)}: ${safe(reason)}`;
  const switchIs = switchMode(after.config);
  if (request.command === 'schedule') {
    const bound = (key: string) => safe(written.data[key] || 'open');
    out.line(
      `maintenance scheduled in ${target.where}: ${bound(CONFIG_KEYS.start)} -> ${bound(CONFIG_KEYS.end)}, the switch ${switchIs}${version}${by}`,
    );
  } else if (request.command === 'repair') {
    const dropped = Object.keys(plan.data).sort().join(', ');
    out.line(`repaired ${target.where}: dropped ${dropped}${version}${by}`);
  } else {
    out.line(`${request.command === 'read-only' ? 'read-only' : `maintenance ${request.command}`} in ${target.where}${version}${by}`);
  }
  if (plan.endsWindow) out.line('the window that held maintenance on is cleared');
  const kept = keptValues(request, written.data, after.config);
  out.line(`users: ${safe(usersGet(after.config, systemClock.now()))}${kept.length > 0 ? ` (${kept.join(', ')} kept from before)` : ''}`);
  if (!waits || request.command === 'schedule' || request.command === 'repair') return 0;
  out.line(`waiting up to ${request.timeout} for the endpoints of ${target.service} to follow:`);
  return (await target.waitForFleet(decide(after.config, systemClock.now()).active, request, out)) ? 0 : 4;
}

/** The writers' warnings (an Event not recorded), as one line each on stderr. */
function problemLog(program: string, out: Output): Logger {
  return pino(
    { level: 'warn', base: null, timestamp: false },
    {
      write(line: string) {
        const { msg, err } = JSON.parse(line) as { msg?: string; err?: { message?: string } };
        out.problem(`${program}: ${safe(`${msg ?? ''}${err?.message ? `: ${err.message}` : ''}`)}`);
      },
    },
  );
}

/** Piped into `head`, the rest of the output has nowhere to go: that is not an error. */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

// The single executable, whatever its file is called; or this file, run by node.
const invokedDirectly = isSea() || /[\\/]cli[\\/]maintenance\.ts$/.test(process.argv[1] ?? '');
if (invokedDirectly) {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  void main(process.argv.slice(2)).then((code) => {
    // Exits once the output is written: the API client keeps connections open otherwise.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
