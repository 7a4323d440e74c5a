import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  ConfigNotFoundError,
  InvalidConfigChangeError,
  MalformedVersionError,
  ReadOnlyNotEnforcedError,
  VersionConflictError,
} from '../../config/writer.ts';
import { KubernetesApiError } from '../../k8s/client.ts';
import { configErrorToApiError, type ApiError } from './requests.ts';

/** Errors the admin surface answers with a status of their own; anything else is a generic 500. */

/** Too many authentication attempts: 429 with Retry-After. */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  readonly scope: 'client' | 'reviews' | 'sign_ins';
  readonly retryAfterSeconds: number;
  constructor(scope: 'client' | 'reviews' | 'sign_ins', retryAfterSeconds: number) {
    super(
      scope === 'client'
        ? 'too many sign-in attempts from this address'
        : scope === 'sign_ins'
          ? 'too many sign-ins by this identity'
          : 'too many token reviews from this admin pod',
    );
    this.scope = scope;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The admin cannot check anyone right now (a missing token file): 503 with this message, which is safe to show. */
export class AdminUnavailableError extends Error {
  override readonly name = 'AdminUnavailableError';
}

export type ApiStatusCode = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 503;

export interface ApiAnswer {
  status: ApiStatusCode;
  body: ApiError;
  headers?: Record<string, string>;
}

/** An error answer of the API; a 401 says how to authenticate. */
export function fail(c: Context, status: ApiStatusCode, body: ApiError, headers: Record<string, string> = {}): Response {
  if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="maintenance-switch"');
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return c.json(body, status);
}

/**
 * The one mapping from typed errors to the API's answers. Null for an error it does not know:
 * the caller logs that one under an id and answers 500 (or 503 for the Kubernetes API).
 */
export function toApiError(error: unknown): ApiAnswer | null {
  if (error instanceof HTTPException && error.status === 400) {
    return { status: 400, body: { error: 'invalid_request', field: 'body', message: 'body: malformed JSON' } };
  }
  if (error instanceof InvalidConfigChangeError) return { status: 400, body: configErrorToApiError(error.issues) };
  if (error instanceof MalformedVersionError) {
    return { status: 400, body: { error: 'invalid_request', field: 'resourceVersion', message: `resourceVersion: ${error.message}` } };
  }
  if (error instanceof VersionConflictError) {
    return {
      status: 409,
      body: { error: 'conflict', message: 'the maintenance config was changed by someone else since you loaded it; reload and try again' },
    };
  }
  if (error instanceof ReadOnlyNotEnforcedError)
    return { status: 409, body: { error: 'read_only_not_enforced', field: 'mode', message: `mode: ${error.message}` } };
  if (error instanceof ConfigNotFoundError) return { status: 404, body: { error: 'not_found', message: error.message } };
  if (error instanceof RateLimitedError) {
    return {
      status: 429,
      body: { error: 'rate_limited', message: `${error.message}; try again in ${error.retryAfterSeconds} s` },
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    };
  }
  if (error instanceof AdminUnavailableError) return { status: 503, body: { error: 'unavailable', message: error.message } };
  return null;
}

/** The answer to an error nobody expected, which the log holds under `errorId`. */
export function unexpectedError(error: unknown, errorId: string): ApiAnswer {
  if (error instanceof KubernetesApiError) {
    return {
      status: 503,
      body: { error: 'unavailable', message: `the Kubernetes API did not answer as expected; see the admin pod's log (error ${errorId})` },
    };
  }
  return { status: 500, body: { error: 'internal', message: `internal error; see the admin pod's log (error ${errorId})` } };
}
