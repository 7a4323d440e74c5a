import { validate } from '@readme/openapi-parser';

/** What an OpenAPI validator finds wrong with a document: none when it is valid. */
export async function validOpenApi(document: Record<string, unknown>): Promise<string[]> {
  // The parser dereferences in place: it gets a copy.
  const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
  return result.valid ? [] : result.errors.map((error) => error.message);
}
