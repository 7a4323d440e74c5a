/** Errors the admin surface answers with a status of their own; anything else is a generic 500. */

/** Too many authentication attempts: 429 with Retry-After. */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  readonly scope: 'client' | 'reviews';
  readonly retryAfterSeconds: number;
  constructor(scope: 'client' | 'reviews', retryAfterSeconds: number) {
    super(scope === 'client' ? 'too many sign-in attempts from this address' : 'too many token reviews from this admin pod');
    this.scope = scope;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The admin cannot check anyone right now (a missing token file): 503 with this message, which is safe to show. */
export class AdminUnavailableError extends Error {
  override readonly name = 'AdminUnavailableError';
}
