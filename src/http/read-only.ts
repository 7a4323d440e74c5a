/**
 * Read-only mode over HTTP: the header every answer carries while it lasts, and the bounded read
 * of a GraphQL request's body, which must be judged before anything reaches the application.
 */

/** On every response of the app while read-only is in effect, so its own pages can grey out what writes. */
export const READ_ONLY_HEADER = 'Maintenance-Mode';
export const READ_ONLY_VALUE = 'read-only';

export function markReadOnly(response: Response): Response {
  response.headers.set(READ_ONLY_HEADER, READ_ONLY_VALUE);
  return response;
}

/** GRAPHQL_MAX_BODY_BYTES's default: far above a real query document, far below what would hurt. */
export const DEFAULT_GRAPHQL_MAX_BYTES = 256 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/**
 * The whole body as bytes, or a BodyTooLargeError as soon as it passes `maxBytes` (or announces
 * more in Content-Length): never more than the cap is held. On refusal the rest is left unread,
 * not cancelled, so the connection is still there for the answer (which then closes it).
 */
export async function readBodyUpTo(body: ReadableStream<Uint8Array> | null, maxBytes: number, declaredLength?: string): Promise<Buffer> {
  if (declaredLength !== undefined && Number(declaredLength) > maxBytes)
    throw new BodyTooLargeError(`a body of ${declaredLength} bytes, over ${maxBytes}`);
  if (body === null) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      size += next.value.byteLength;
      if (size > maxBytes) throw new BodyTooLargeError(`a body over ${maxBytes} bytes`);
      chunks.push(next.value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size);
}
