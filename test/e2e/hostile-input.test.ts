/**
 * Property-based: thousands of generated requests (known operations with hostile variables,
 * generated documents, garbage bodies) against the running app. Every answer must be a
 * well-formed GraphQL result whose errors each carry a contract code; the process must stay up
 * and its heap come back to where it was.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { Kind, isObjectType, print, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import * as generated from '../../src/generated/graphql.ts';
import { schema } from '../../src/schema/index.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

const CONTRACT_CODES = new Set<unknown>(Object.values(ErrorCode));
const RUNS = 2_500;
const WARM_UP_RUNS = 1_500;

let t: TestApp;
let token: string;

beforeAll(async () => {
  // Attempt limits high enough that generated auth calls reach the resolvers.
  t = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '1000000', AUTH_MAX_FAILED_ATTEMPTS: '1000000' });
  token = (await t.newUser()).accessToken;
});
afterAll(() => t.stop());

// --- generators -------------------------------------------------------------------------------

const nasty = fc.constantFrom(
  '',
  '\u0000',
  '\uD800', // lone surrogate
  '\u202Eevil',
  '🙂'.repeat(1000),
  'e\u0301'.repeat(500),
  '%s%n%x',
  '"; DROP TABLE users; --',
  '{"$ne": null}',
  '__proto__',
  'constructor',
  '01J0000000000000000000000Z',
  'a@b.c',
  'x'.repeat(300_000),
);
const hostileString = fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), nasty);
const scalar = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constantFrom(null, true, false, 2 ** 53 + 1, -0, 1e308),
);
const { value: hostileValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6, withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor')), tie('value'), { maxKeys: 4 }),
  ),
}));
/** Nested far deeper than any limit: `[[[…]]]` and `{"a":{"a":…}}`. */
const deepValue = fc.integer({ min: 50, max: 2_000 }).map((depth) => JSON.parse(`${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`) as unknown);

const documents = Object.values(generated).filter((value): value is DocumentNode => typeof value === 'object' && value !== null && 'kind' in value && value.kind === Kind.DOCUMENT);
// Fragment documents have no operation of their own.
const operations = documents.flatMap((document) => {
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operation ? [{ query: print(document), variables: (operation.variableDefinitions ?? []).map((v) => v.variable.name.value) }] : [];
});

const knownOperation = fc
  .record({
    operation: fc.constantFrom(...operations),
    values: fc.array(fc.oneof(hostileValue, deepValue, hostileString), { minLength: 4, maxLength: 4 }),
    nullVariables: fc.boolean(),
  })
  .map(({ operation, values, nullVariables }) => ({
    query: operation.query,
    variables: nullVariables ? null : Object.fromEntries(operation.variables.map((name, i) => [name, values[i % values.length]])),
  }));

const fieldNames = [...new Set(Object.values(schema.getTypeMap()).flatMap((type) => (isObjectType(type) ? Object.keys(type.getFields()) : [])))];
const argNames = [...new Set(Object.values(schema.getTypeMap()).flatMap((type) => (isObjectType(type) ? Object.values(type.getFields()).flatMap((f) => f.args.map((a) => a.name)) : [])))];
const literal = fc.oneof(
  hostileString.map((s) => JSON.stringify(s)),
  fc.integer().map(String),
  fc.constantFrom('null', 'true', '[1, [2, [3]]]', '{ a: { b: 1 } }', 'ADMIN', '$undefined', '1e400'),
);
const { selection } = fc.letrec<{ selection: string }>((tie) => ({
  selection: fc
    .record({
      alias: fc.option(fc.constantFrom('a', 'b', '__typename', 'x1'), { nil: undefined }),
      name: fc.oneof(fc.constantFrom(...fieldNames, '__typename', '__schema', 'nope'), fc.string({ unit: 'grapheme-ascii', maxLength: 6 })),
      args: fc.array(fc.tuple(fc.constantFrom(...argNames), literal), { maxLength: 3 }),
      children: fc.oneof({ maxDepth: 6, depthIdentifier: 'selection' }, fc.constant([]), fc.array(tie('selection'), { maxLength: 3 })),
    })
    .map(({ alias, name, args, children }) => {
      const argText = args.length ? `(${args.map(([n, v]) => `${n}: ${v}`).join(', ')})` : '';
      return `${alias ? `${alias}: ` : ''}${name}${argText}${children.length ? ` { ${children.join(' ')} }` : ''}`;
    }),
}));
const generatedDocument = fc
  .record({
    kind: fc.constantFrom('query', 'mutation', 'subscription', ''),
    selections: fc.array(selection, { minLength: 1, maxLength: 4 }),
    wrap: fc.integer({ min: 0, max: 40 }),
  })
  .map(({ kind, selections, wrap }) => ({
    query: `${kind} { ${'conversations { edges { node { '.repeat(wrap)}${selections.join(' ')}${' } } }'.repeat(wrap)} }`,
    variables: {},
  }));

const garbageQuery = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), nasty).map((query) => ({ query, variables: {} }));

type Body = { text: string; contentType: string; authorized: boolean };
const graphqlBody = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: knownOperation }, { weight: 3, arbitrary: generatedDocument }, { weight: 1, arbitrary: garbageQuery }), fc.boolean())
  .map(([request, authorized]): Body => ({ text: JSON.stringify(request), contentType: 'application/json', authorized }));
const rawBody = fc
  .oneof(
    hostileValue.map((value) => JSON.stringify(value) ?? 'null'),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.array(knownOperation, { minLength: 1, maxLength: 15 }).map((batch) => JSON.stringify(batch)),
    fc.constantFrom('{"query":', '{"query": 1}', '{"query": "{ me { id } }", "variables": "x"}', '[]', '{"extensions": {"persistedQuery": 1}}'),
  )
  .chain((text) => fc.record({ text: fc.constant(text), contentType: fc.constantFrom('application/json', 'application/graphql-response+json'), authorized: fc.boolean() }));

// --- the property -----------------------------------------------------------------------------

async function send(body: Body): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': body.contentType,
      accept: 'application/graphql-response+json, application/json',
      ...(body.authorized ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body.text,
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as unknown };
}

/** A GraphQL response: `data` and/or `errors`, each error with a message and a contract code. */
function assertWellFormed(result: unknown): void {
  expect(result).toBeTypeOf('object');
  expect(result).not.toBeNull();
  const { data, errors, ...rest } = result as { data?: unknown; errors?: unknown };
  expect(Object.keys(rest).filter((key) => key !== 'extensions')).toEqual([]);
  expect(data !== undefined || errors !== undefined).toBe(true);
  if (errors === undefined) return;
  expect(Array.isArray(errors) && errors.length > 0).toBe(true);
  for (const error of errors as { message?: unknown; extensions?: { code?: unknown } }[]) {
    expect(error.message).toBeTypeOf('string');
    expect(CONTRACT_CODES.has(error.extensions?.code), JSON.stringify(error)).toBe(true);
    expect(JSON.stringify(error)).not.toMatch(/"stack"|\n\s+at /);
  }
}

function heapAfterGc(): number {
  // vitest offers no --expose-gc; this turns the flag on at run time and fetches `gc`.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe('hostile input', () => {
  it(`answers ${RUNS} generated requests with well-formed results and contract codes`, async () => {
    const property = fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: graphqlBody }, { weight: 1, arbitrary: rawBody }), async (body) => {
      const { status, json } = await send(body);
      expect(status).toBeLessThan(500);
      for (const result of Array.isArray(json) ? json : [json]) assertWellFormed(result);
    });
    // Warm up first: JIT, lazily built parts of yoga, and the parsed-document caches, which
    // fill up to their bound (src/server/graphql-limits.ts) and then stay there.
    await fc.assert(property, { numRuns: WARM_UP_RUNS, seed: 1 });
    const baseline = heapAfterGc();
    await fc.assert(property, { numRuns: RUNS });
    const grown = heapAfterGc() - baseline;

    // Still up and still correct.
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
    expect(await send({ text: JSON.stringify({ query: '{ me { id } }' }), contentType: 'application/json', authorized: true })).toMatchObject({ status: 200, json: { data: { me: { id: expect.any(String) } } } });
    // The caches may still be settling; a leak of even 10 KiB per request would be 25 MiB here.
    expect(grown / 1024 / 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB`).toBeLessThan(16);
    expect(v8.getHeapStatistics().used_heap_size).toBeLessThan(v8.getHeapStatistics().heap_size_limit / 2);
  }, 120_000);
});
