import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { ROLES } from './role-names.ts';
import { CidrList } from './cidr.ts';
import { commaList } from './config/parse.ts';
import { DEFAULT_GRAPHQL_MAX_BYTES } from './http/read-only.ts';

const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function inClusterNamespace(): string {
  return existsSync(IN_CLUSTER_NAMESPACE_FILE) ? readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() : 'default';
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

const dnsName = z
  .string()
  .trim()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name, as Kubernetes names are')
  .max(253, 'must be at most 253 characters');

export const port = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a port number from 0 to 65535')
  .transform(Number)
  .pipe(z.number().max(65535, 'must be a port number from 0 to 65535'));

const secondsUpTo = (max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds')
    .transform(Number)
    .pipe(z.number().max(max, `must be at most ${max} seconds`));

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const cidrList = commaList.superRefine((cidrs, context) => {
  try {
    new CidrList(cidrs);
  } catch (error) {
    context.addIssue({ code: 'custom', message: `must be comma-separated IP addresses or CIDRs: ${(error as Error).message}` });
  }
});

/** The application in the same pod: plain HTTP, a host and a port, nothing else. */
const upstreamUrl = z
  .string()
  .trim()
  .transform((text, context) => {
    const url = URL.parse(text);
    if (url === null || url.protocol !== 'http:' || url.pathname !== '/' || url.search !== '' || url.username !== '' || url.hash !== '') {
      context.addIssue({ code: 'custom', message: 'must be http://HOST:PORT, such as http://127.0.0.1:8080, with no path' });
      return z.NEVER;
    }
    return url;
  });

export const envSchema = z.object({
  ROLE: z.enum(ROLES, { error: 'must be "user", "admin", "page" or "gate"' }).default('user'),
  PORT: port.default(8080),
  HOST: z.string().trim().min(1, 'must not be empty').default('0.0.0.0'),
  CONFIG_DIR: z.string().trim().min(1, 'must not be empty').default('/etc/app-config'),
  POD_NAME: z.string().trim().min(1, 'must not be empty').default(hostname()),
  SHUTDOWN_DELAY_SECONDS: secondsUpTo(120).default(5),
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: secondsUpTo(3600).default(65),
  HTTP_HEADERS_TIMEOUT_SECONDS: secondsUpTo(3600).default(66),
  HTTP_REQUEST_TIMEOUT_SECONDS: secondsUpTo(3600).default(120),
  HTTP_FIRST_REQUEST_TIMEOUT_SECONDS: secondsUpTo(3600).default(10),
  MAX_CONNECTIONS: wholeNumber(1, 1_000_000).default(1000),
  MAX_CONNECTIONS_PER_CLIENT: wholeNumber(1, 1_000_000).default(100),
  PROBE_PORT: port.optional(),
  TRUSTED_PROXY_CIDRS: cidrList.default([]),
  TRUSTED_PROXY_HEADER: z
    .enum(['x-forwarded-for', 'forwarded'], { error: 'must be "x-forwarded-for" or "forwarded"' })
    .default('x-forwarded-for'),
  UPSTREAM: upstreamUrl.optional(),
  PROXY_PORT: port.default(9900),
  // bypass: users reach the app directly, and only bypass holders come through PROXY_PORT (the
  // preview Service), so the gate cannot refuse users' writes and holds read-only as maintenance;
  // all: the public Service sends every request through PROXY_PORT.
  GATE_TRAFFIC: z.enum(['bypass', 'all'], { error: 'must be "bypass" or "all"' }).default('bypass'),
  GRAPHQL_MAX_BODY_BYTES: wholeNumber(1024, 16 * 1024 * 1024).default(DEFAULT_GRAPHQL_MAX_BYTES),
  // Empty means "not set", so a manifest can leave the path blank instead of dropping the variable.
  UPSTREAM_READY_PATH: z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .trim()
      .regex(/^\/[^\s]*$/, 'must be a path starting with /')
      .optional(),
  ),
  UPSTREAM_READY_INTERVAL_SECONDS: secondsUpTo(300).pipe(z.number().min(0.1, 'must be at least 0.1 seconds')).default(2),
  UPSTREAM_CONNECT_TIMEOUT_SECONDS: secondsUpTo(300).pipe(z.number().min(0.1, 'must be at least 0.1 seconds')).default(5),
  UPSTREAM_RESPONSE_TIMEOUT_SECONDS: secondsUpTo(3600).pipe(z.number().min(0.1, 'must be at least 0.1 seconds')).default(60),
  BYPASS_KEY_DIR: z.string().trim().min(1, 'must not be empty').default('/etc/maintenance-bypass'),
  BYPASS_COOKIE_SECURE: z
    .enum(['true', 'false'], { error: 'must be "true" or "false"' })
    .transform((value) => value === 'true')
    .default(true),
  MAINTENANCE_BYPASS_CIDRS: cidrList.default([]),
  PUBLIC_URL: z
    .string()
    .trim()
    .transform((text, context) => {
      const url = URL.parse(text);
      if (url === null || !['http:', 'https:'].includes(url.protocol)) {
        context.addIssue({
          code: 'custom',
          message: 'must be the http(s) address users reach the application at, such as https://shop.example.com',
        });
        return z.NEVER;
      }
      return url;
    })
    .optional(),
  FLEET_SERVICE: dnsName.default('none'),
  FLEET_WARN_SECONDS: wholeNumber(1, 86_400).default(120),
  NUDGE: z.enum(['on', 'off'], { error: 'must be "on" or "off"' }).default('on'),
  NUDGE_SERVICE: dnsName.optional(),
  NUDGE_CONCURRENCY: wholeNumber(1, 256).default(32),
  NUDGE_QPS: wholeNumber(1, 10_000).default(400),
  APP_NAME: dnsName.default('none'),
  AUTOSCALING_HOLD: z.enum(['on', 'off'], { error: 'must be "on" or "off"' }).default('on'),
  AUTOSCALING_HOLD_AFTER_SECONDS: wholeNumber(0, 3600).optional(),
  FLEET_STATUS_PORT: port.optional(),
  // How the app's pods leave their Services: sidecar (the gate's readiness; components/gate) or
  // readiness-gate (the condition maintenance-switch.dev/serving, which the admin sets through
  // pods/status; components/readiness-gate). Read by the admin and page tiers.
  GATE_MODE: z.enum(['sidecar', 'readiness-gate'], { error: 'must be "sidecar" or "readiness-gate"' }).default('sidecar'),
  MAINTENANCE_READY_GRACE_SECONDS: secondsUpTo(60).default(0),
  CONFIG_SOURCE: z.enum(['auto', 'volume', 'api'], { error: 'must be "auto", "volume" or "api"' }).default('auto'),
  CONFIGMAP_NAME: dnsName.optional(),
  BYPASS_KEY_SECRET: dnsName.optional(),
  POD_NAMESPACE: dnsName.default(inClusterNamespace),
  ADMIN_AUTH: z.enum(['kubernetes', 'token', 'none'], { error: 'must be "kubernetes", "token" or "none"' }).optional(),
  ADMIN_TOKEN_FILE: z.string().trim().min(1).optional(),
  ADMIN_MAX_BODY_BYTES: wholeNumber(1024, 1024 * 1024).default(16 * 1024),
  ADMIN_AUTH_ATTEMPTS_PER_MINUTE: wholeNumber(1, 100_000).default(30),
  CONFIG_WRITER: z.enum(['api', 'directory'], { error: 'must be "api" or "directory"' }).default('api'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

/**
 * The schema with the rules that tie variables together. ADMIN_AUTH defaults by where it runs;
 * the names of the install's objects derive from APP_NAME (which the install reads from the
 * pod's own label), so no manifest copies them into the environment.
 */
const checkedSchema = (source: NodeJS.ProcessEnv) =>
  envSchema
    .transform((env) => {
      const app = env.APP_NAME === 'none' ? undefined : env.APP_NAME;
      return {
        ...env,
        ADMIN_AUTH: env.ADMIN_AUTH ?? (source.KUBERNETES_SERVICE_HOST ? 'kubernetes' : env.ADMIN_TOKEN_FILE ? 'token' : 'none'),
        CONFIGMAP_NAME: env.CONFIGMAP_NAME ?? (app ? `${app}-maintenance` : 'app-config'),
        BYPASS_KEY_SECRET: env.BYPASS_KEY_SECRET ?? (app ? `${app}-maintenance-bypass-key` : 'maintenance-bypass-key'),
        NUDGE_SERVICE: env.NUDGE_SERVICE ?? (app ? `${app}-maintenance-pods` : 'none'),
      };
    })
    .superRefine((env, context) => {
      // Node requires headersTimeout <= requestTimeout; above keepAliveTimeout, a reused idle
      // connection is never cut by the headers timer while a load balancer still trusts it.
      if (env.HTTP_HEADERS_TIMEOUT_SECONDS <= env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS) {
        context.addIssue({
          code: 'custom',
          path: ['HTTP_HEADERS_TIMEOUT_SECONDS'],
          message: `must be greater than HTTP_KEEP_ALIVE_TIMEOUT_SECONDS (${env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS})`,
        });
      }
      if (env.HTTP_REQUEST_TIMEOUT_SECONDS < env.HTTP_HEADERS_TIMEOUT_SECONDS) {
        context.addIssue({
          code: 'custom',
          path: ['HTTP_REQUEST_TIMEOUT_SECONDS'],
          message: `must be at least HTTP_HEADERS_TIMEOUT_SECONDS (${env.HTTP_HEADERS_TIMEOUT_SECONDS})`,
        });
      }
      if (env.PROBE_PORT !== undefined && env.PROBE_PORT !== 0) {
        if (env.ROLE === 'gate')
          context.addIssue({
            code: 'custom',
            path: ['PROBE_PORT'],
            message: "is not for ROLE=gate: the gate's PORT already carries only its probes",
          });
        else if (env.PROBE_PORT === env.PORT)
          context.addIssue({
            code: 'custom',
            path: ['PROBE_PORT'],
            message: `must differ from PORT (${env.PORT}), which carries user traffic`,
          });
      }
      if (env.ROLE !== 'gate') {
        for (const name of ['UPSTREAM', 'UPSTREAM_READY_PATH'] as const) {
          if (env[name] !== undefined)
            context.addIssue({ code: 'custom', path: [name], message: `is for ROLE=gate only, not ${env.ROLE}` });
        }
      } else if (env.GATE_TRAFFIC === 'all' && env.UPSTREAM === undefined) {
        context.addIssue({ code: 'custom', path: ['GATE_TRAFFIC'], message: 'needs UPSTREAM, the application to send users to' });
      } else if (env.UPSTREAM_READY_PATH !== undefined && env.UPSTREAM === undefined) {
        context.addIssue({ code: 'custom', path: ['UPSTREAM_READY_PATH'], message: 'needs UPSTREAM, the application to ask' });
      } else if (env.UPSTREAM !== undefined && env.PROXY_PORT === env.PORT && env.PORT !== 0) {
        context.addIssue({
          code: 'custom',
          path: ['PROXY_PORT'],
          message: `must differ from PORT (${env.PORT}), where the gate's probes and metrics are served`,
        });
      }
      if (env.GATE_MODE === 'readiness-gate' && (env.ROLE === 'user' || env.ROLE === 'gate'))
        context.addIssue({
          code: 'custom',
          path: ['GATE_MODE'],
          message: `is for the admin and page tiers (no container of ours runs in your app's pods), not ROLE=${env.ROLE}`,
        });
      if (env.GATE_MODE === 'readiness-gate' && env.FLEET_STATUS_PORT !== undefined)
        context.addIssue({
          code: 'custom',
          path: ['FLEET_STATUS_PORT'],
          message: 'is not for GATE_MODE=readiness-gate: no gate answers on your pods, the switch says when they are in maintenance',
        });
      if (env.ROLE === 'page' && env.FLEET_SERVICE === 'none' && source.KUBERNETES_SERVICE_HOST)
        context.addIssue({
          code: 'custom',
          path: ['FLEET_SERVICE'],
          message: "is required for ROLE=page: the name of your app's Service, whose endpoints say when to show the page",
        });
      if (env.ROLE !== 'admin') return;
      if (env.ADMIN_AUTH === 'none' && !isLoopback(env.HOST)) {
        context.addIssue({
          code: 'custom',
          path: ['ADMIN_AUTH'],
          message: `turns authentication off, which is only allowed when HOST is a loopback address, not ${JSON.stringify(env.HOST)}; use ADMIN_AUTH=kubernetes or token`,
        });
      }
      if (env.ADMIN_AUTH === 'token' && env.ADMIN_TOKEN_FILE === undefined) {
        context.addIssue({ code: 'custom', path: ['ADMIN_TOKEN_FILE'], message: 'must name a file of tokens when ADMIN_AUTH=token' });
      }
    });

export type Env = z.output<ReturnType<typeof checkedSchema>>;

export class EnvError extends Error {}

/** Validates the environment once. Empty variables count as unset, as they do in most shells' configs. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const input = Object.fromEntries(
    Object.keys(envSchema.shape)
      .map((key) => [key, source[key]] as const)
      .filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = checkedSchema(source).safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const value = source[name];
    return value === undefined || value === '' ? `${name} ${issue.message}` : `${name}=${JSON.stringify(value)} ${issue.message}`;
  });
  throw new EnvError(`invalid environment: ${problems.join('; ')}`);
}
