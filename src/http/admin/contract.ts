import { z } from 'zod';

/**
 * The admin API's answers, as schemas: the TypeScript types (api-types.ts, which the panel's
 * script is checked against) are derived from these, and so is the OpenAPI document served at
 * /admin/api/openapi.json. What each route returns is typed with them, so a field renamed on one
 * side fails the type check, and the tests parse every answer they get with them.
 */

const time = z.string().describe('ISO 8601 time, UTC');
const nullableTime = time.nullable();

const guard = z
  .union([
    z.strictObject({ state: z.literal('guarded'), checkedAt: time }),
    z.strictObject({ state: z.enum(['unguarded', 'forbidden', 'unknown']), problem: z.string(), checkedAt: nullableTime }),
    z.strictObject({ state: z.literal('off'), problem: z.string(), checkedAt: z.null() }),
  ])
  .describe("Whether the cluster part's policy confines the admin's writes, from a server-side dry run");

const fleet = z
  .object({
    service: z.string(),
    synced: z.boolean().describe('False until the EndpointSlices were listed once: counts are then unknown, not zero'),
    watch: z.strictObject({
      service: z.string(),
      connection: z.enum(['connecting', 'watching', 'backing_off', 'stopped']),
      lastError: z.string().nullable(),
    }),
    serving: z.number().int(),
    notServing: z.number().int(),
    terminating: z.number().int(),
    pods: z.array(z.strictObject({ name: z.string(), state: z.enum(['serving', 'not_serving', 'terminating']), since: time })),
    converged: z.boolean(),
    lagging: z.array(z.string()),
    changedAt: nullableTime,
    convergedAt: nullableTime,
    convergenceSeconds: z.number().nullable(),
    warnAfterSeconds: z.number(),
    ungated: z.array(z.string()).describe('Pods behind the Service that carry no gate: they serve during maintenance'),
    gateProblem: z.string().nullable(),
  })
  .describe("The user Service's endpoints beside the effective state");

const nudge = z.strictObject({
  guard,
  lastRound: z
    .object({
      at: time,
      pods: z.number().int(),
      nudged: z.number().int(),
      failed: z.number().int(),
      retried: z.number().int(),
      reprobed: z.number().int(),
    })
    .nullable(),
  unfollowed: z.strictObject({ pods: z.array(z.string()), likelyCauses: z.string() }).nullable(),
});

const serving = z
  .strictObject({
    guard,
    level: z.enum(['True', 'False']).nullable().describe('The condition every gated pod should carry; null until the switch is known'),
    failedClosed: z.boolean().describe('Read-only, held as maintenance: this mode has no proxy to refuse writes'),
    pods: z.number().int(),
    atLevel: z.number().int(),
    waiting: z.array(z.string()).describe('Pods with the readiness gate and no condition yet: not Ready until the admin writes it'),
    pageReady: z.number().int(),
    pageWaitSince: nullableTime.describe('Maintenance started: since when the pods wait for a Ready page pod before they leave'),
    lastRound: z
      .strictObject({
        at: time,
        durationMs: z.number().nullable().describe('From the first write to the last answer; null while the round runs'),
        written: z.number().int(),
        conflicts: z.number().int(),
        failed: z.number().int(),
      })
      .nullable(),
    problem: z.string().nullable(),
  })
  .describe('The sidecar-free mode (GATE_MODE=readiness-gate): the condition maintenance-switch.dev/serving on your pods');

const autoscalerKind = z.enum(['HorizontalPodAutoscaler', 'ScaledObject']);
const autoscaling = z.strictObject({
  state: z.enum(['off', 'released', 'held']),
  held: z.array(
    z.strictObject({
      kind: autoscalerKind,
      name: z.string(),
      deployment: z.string(),
      replicas: z.number().int(),
      since: time,
      releasesAt: nullableTime,
    }),
  ),
  problems: z.array(z.strictObject({ kind: autoscalerKind.optional(), name: z.string().optional(), problem: z.string() })),
  reasserted: z.number().int(),
  keda: z.boolean(),
  guard,
  checkedAt: nullableTime,
});

export const maintenanceViewSchema = z
  .object({
    enabled: z.boolean().describe('The switch on, as stored (or the last good config when the stored one is rejected); false in read-only'),
    mode: z.enum(['off', 'on', 'read-only']).describe('The switch, as stored: MAINTENANCE_MODE false, true or read-only'),
    message: z.string(),
    retryAfterSeconds: z.number().int(),
    start: nullableTime,
    end: nullableTime,
    allowPaths: z.array(z.string()).readonly(),
    graphqlPaths: z.array(z.string()).readonly(),
    page: z.string().describe('`default`, or `custom` and a fingerprint of MAINTENANCE_PAGE_HTML'),
    shows: z.enum(['stored', 'last_good', 'nothing_valid']),
    resourceVersion: z.string(),
    changedBy: z.string().nullable(),
    changedAt: z.string().nullable(),
    reason: z.string().nullable(),
    changedOutside: z.strictObject({ manager: z.string().nullable(), time: z.string().nullable() }).nullable(),
    configError: z.string().nullable(),
    readOnlyRefused: z.string().nullable().describe('Why read-only cannot be set on this install (nothing would enforce it), or null'),
    rejected: z
      .object({
        error: z.string(),
        keys: z.array(z.strictObject({ key: z.string(), value: z.string().nullable(), problem: z.string().nullable() })),
      })
      .nullable(),
    effective: z
      .object({
        active: z.boolean(),
        readOnly: z.boolean(),
        mode: z.enum(['off', 'on', 'read-only']),
        cause: z.enum(['switch', 'window']).nullable(),
        nextChangeAt: nullableTime,
      })
      .nullable()
      .describe('What users get now: the switch, or inside the window'),
    fleet: fleet.nullable(),
    nudge: nudge.nullable(),
    serving: serving.nullable(),
    autoscaling: autoscaling.nullable(),
    bypassLinks: z.strictObject({ available: z.boolean(), problem: z.string().nullable(), enable: z.string().nullable() }),
  })
  .describe('The switch, what users get, and the fleet following it');

export const sessionViewSchema = z.strictObject({
  user: z.string(),
  csrfToken: z.string().nullable().describe('Sent back in X-CSRF-Token on every change; null without a session (ADMIN_AUTH=none)'),
  mode: z.enum(['kubernetes', 'token', 'none']),
});

export const bypassLinkViewSchema = z.strictObject({
  id: z.string(),
  expiresAt: time,
  path: z.string().describe("The link's path on the application"),
  url: z.string().nullable().describe('The link on PUBLIC_URL, when that is set'),
  reason: z.string(),
});

export const historyViewSchema = z.strictObject({
  changes: z.array(
    z.strictObject({
      at: time,
      by: z.string(),
      reason: z.string().nullable(),
      what: z.string(),
      outside: z.boolean().describe('Made outside the panel, the API and the plugin: `by` is its field manager'),
    }),
  ),
});

export const apiErrorSchema = z.strictObject({
  error: z.enum([
    'invalid_request',
    'unauthorized',
    'forbidden',
    'not_found',
    'conflict',
    'read_only_not_enforced',
    'payload_too_large',
    'rate_limited',
    'unavailable',
    'internal',
  ]),
  message: z.string(),
  field: z.string().optional().describe('For invalid_request and read_only_not_enforced: the request field at fault'),
});

/** Every route of the admin API: what it answers on success, and with which status. */
export const ROUTES = {
  'GET /admin/api/maintenance': { status: 200, schema: maintenanceViewSchema, summary: 'Read the switch and what users get' },
  'PUT /admin/api/maintenance': { status: 200, schema: maintenanceViewSchema, summary: 'Turn the switch, set a window or the message' },
  'GET /admin/api/history': { status: 200, schema: historyViewSchema, summary: 'The last changes, newest first' },
  'POST /admin/api/bypass-links': { status: 201, schema: bypassLinkViewSchema, summary: 'Make a signed bypass link' },
  'GET /admin/api/stream': { status: 200, schema: null, summary: 'Server-Sent Events: `state` (a maintenance view) and `fleet`' },
  'GET /admin/api/openapi.json': { status: 200, schema: null, summary: 'This document' },
  'GET /admin/session': { status: 200, schema: sessionViewSchema, summary: 'Who is signed in' },
  'POST /admin/session': { status: 200, schema: sessionViewSchema, summary: 'Trade a token for a session cookie' },
  'DELETE /admin/session': { status: 204, schema: null, summary: 'Sign out' },
} as const;

export type AdminRoute = keyof typeof ROUTES;

/** The API's own version, in the document: it changes when a field changes meaning or goes. */
const API_VERSION = '1.0.0';

/** The OpenAPI 3.1 document of the admin API, generated from the schemas above. */
export function openApiDocument(): Record<string, unknown> {
  // OpenAPI 3.1's schemas are JSON Schema 2020-12, the dialect the document names once.
  const schema = (of: z.ZodType) => {
    const { $schema: _dialect, ...rest } = z.toJSONSchema(of, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' });
    return rest;
  };
  const error = {
    description: 'An error, naming the field at fault',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [route, { status, schema: answer, summary }] of Object.entries(ROUTES)) {
    const [method, path] = route.split(' ') as [string, string];
    const success =
      answer === null ? { description: summary } : { description: summary, content: { 'application/json': { schema: schema(answer) } } };
    paths[path] = {
      ...paths[path],
      [method.toLowerCase()]: {
        summary,
        operationId: `${method.toLowerCase()}${path.replace(/[^a-zA-Z]+(.)/g, (_match, next: string) => next.toUpperCase())}`,
        responses: { [String(status)]: success, '4XX': error, '5XX': error },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'maintenance-switch admin API',
      version: API_VERSION,
      description:
        'Sign in with a bearer token (Authorization: Bearer …) or the session cookie; every change with a session also sends X-CSRF-Token.',
    },
    paths,
    components: { schemas: { ApiError: schema(apiErrorSchema) } },
  };
}
