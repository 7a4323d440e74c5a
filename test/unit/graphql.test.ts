import { describe, expect, it } from 'vitest';
import { judgeGraphql } from '../../src/maintenance/graphql.ts';

const post = (body: string, contentType = 'application/json', search = '') =>
  judgeGraphql({ method: 'POST', contentType, search: new URLSearchParams(search), body });
const get = (search: Record<string, string>) =>
  judgeGraphql({ method: 'GET', contentType: undefined, search: new URLSearchParams(search), body: '' });
const json = (params: unknown) => JSON.stringify(params);

describe('judgeGraphql', () => {
  it('lets a query through: anonymous, named, chosen by operationName, over GET, as application/graphql, in a batch', () => {
    for (const verdict of [
      post(json({ query: '{ orders { id } }' })),
      post(json({ query: 'query Orders { orders { id } }', operationName: null })),
      post(json({ query: 'query A { a } mutation B { b }', operationName: 'A' })),
      post(json([{ query: '{ a }' }, { query: 'query Q { b }', operationName: 'Q' }])),
      post('{ orders { id } }', 'application/graphql; charset=utf-8'),
      post(json({ query: '{ a }' }), 'application/graphql-response+json'),
      get({ query: '{ orders { id } }' }),
    ])
      expect(verdict).toEqual({ read: true });
  });

  it.each([
    ['a mutation', post(json({ query: 'mutation { cancel(id: 7) }' })), 'a mutation'],
    ['a subscription', post(json({ query: 'subscription { placed { id } }' })), 'a subscription'],
    ['operationName choosing the mutation', post(json({ query: 'query A { a } mutation B { b }', operationName: 'B' })), 'a mutation'],
    ['several operations, none named', post(json({ query: 'query A { a } query B { b }' })), 'several operations and no operationName'],
    ['an operationName that names none', post(json({ query: 'query A { a }', operationName: 'Z' })), 'no operation named "Z"'],
    ['a batch with one mutation', post(json([{ query: '{ a }' }, { query: 'mutation { b }' }])), 'operation 1 of the batch: a mutation'],
    ['an empty batch', post('[]'), 'an empty batch'],
    ['a document that does not parse', post(json({ query: '{ orders { id ' })), 'the document does not parse'],
    ['a persisted query', post(json({ extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } })), 'a persisted query'],
    ['a body that is not JSON', post('{"query": '), 'the body is not JSON'],
    ['a form', post('query=x', 'application/x-www-form-urlencoded'), 'application/x-www-form-urlencoded body'],
    [
      'no Content-Type',
      judgeGraphql({ method: 'POST', contentType: undefined, search: new URLSearchParams(), body: '{}' }),
      'without a Content-Type',
    ],
    ['a mutation over GET', get({ query: 'mutation { b }' }), 'a mutation'],
    ['an operationName that is not a string', post(json({ query: '{ a }', operationName: 7 })), 'operationName is not a string'],
    ['a document past the token limit', post(json({ query: `{ ${'a '.repeat(25_000)}}` })), 'the document does not parse'],
  ])('refuses %s, saying why', (_name, verdict, reason) => {
    expect(verdict.read).toBe(false);
    expect(verdict.read === false && verdict.reason).toContain(reason);
  });
});
