import { Kind, parse, type OperationDefinitionNode } from 'graphql';

/** A read passes; anything else is refused, with the reason why (the 503 is the same for every refused write). */
export type GraphqlVerdict = { read: true } | { read: false; reason: string };

/** The most tokens one document may have: far above any real query, low enough that parsing stays cheap. */
const MAX_TOKENS = 20_000;

const READ: GraphqlVerdict = { read: true };
const refuse = (reason: string): GraphqlVerdict => ({ read: false, reason });

/**
 * Whether one GraphQL request only reads, judged by graphql-js's own parser: the operation it
 * runs (`operationName`, or the document's only operation) must be a query. A mutation or a
 * subscription, a document that does not parse, an operation that cannot be chosen, a persisted
 * query without its document, and a body in a shape GraphQL servers do not read are all refused:
 * in read-only mode, what cannot be shown to be a read is never forwarded.
 */
export function judgeGraphql(request: {
  method: string;
  contentType: string | undefined;
  search: URLSearchParams;
  body: string;
}): GraphqlVerdict {
  if (request.method === 'GET') return judgeOperation(request.search.get('query'), request.search.get('operationName'));
  const type = mediaType(request.contentType);
  if (type === 'application/graphql') return judgeOperation(request.body, request.search.get('operationName'));
  if (type !== 'application/json' && !type.endsWith('+json'))
    return refuse(`a ${type || 'request without a Content-Type'} body is not a GraphQL request that can be judged`);
  let payload: unknown;
  try {
    payload = JSON.parse(request.body);
  } catch {
    return refuse('the body is not JSON');
  }
  if (!Array.isArray(payload)) return judgeParams(payload);
  if (payload.length === 0) return refuse('an empty batch');
  // A batch runs every operation in it: one write refuses the whole batch.
  for (const [index, item] of payload.entries()) {
    const verdict = judgeParams(item);
    if (!verdict.read) return refuse(`operation ${index} of the batch: ${verdict.reason}`);
  }
  return READ;
}

function judgeParams(params: unknown): GraphqlVerdict {
  if (typeof params !== 'object' || params === null) return refuse('the request is not a JSON object');
  const { query, operationName } = params as Record<string, unknown>;
  return judgeOperation(query, operationName);
}

function judgeOperation(query: unknown, operationName: unknown): GraphqlVerdict {
  if (typeof query !== 'string' || query.trim() === '') return refuse('no query document (a persisted query cannot be judged)');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
    return refuse('operationName is not a string');
  let operations: OperationDefinitionNode[];
  try {
    operations = parse(query, { noLocation: true, maxTokens: MAX_TOKENS }).definitions.filter(
      (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
    );
  } catch (error) {
    return refuse(`the document does not parse: ${(error as Error).message.split('\n')[0]}`);
  }
  const named = typeof operationName === 'string' && operationName !== '';
  const operation = named
    ? operations.find((candidate) => candidate.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (operation === undefined)
    return refuse(named ? `no operation named ${JSON.stringify(operationName.slice(0, 100))}` : 'several operations and no operationName');
  return operation.operation === 'query' ? READ : refuse(`a ${operation.operation}`);
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}
