import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { DateTimeResolver, JSONObjectResolver } from 'graphql-scalars';
import { isAdmin } from '../auth/roles.ts';
import type { AuthenticatedContext, Context } from '../context.ts';
import { forbidden, unauthenticated } from '../errors.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { authenticated: boolean; admin: boolean };
  // Fields built with `t.withAuth({ authenticated: true })` (or admin) see a signed-in identity.
  AuthContexts: { authenticated: AuthenticatedContext; admin: AuthenticatedContext };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    /** An upload (GraphQL multipart request spec); yoga hands resolvers a WHATWG File. */
    File: { Input: File; Output: never };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Subscriptions are checked when they start, before their `subscribe` looks anything up:
    // without it an anonymous caller got the lookup's NOT_FOUND instead of UNAUTHENTICATED.
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      authenticated: context.identity !== null,
      admin: context.identity !== null && isAdmin(context.identity.roles),
    }),
    // Signed-out callers are told to authenticate; signed-in ones lacking a role are forbidden.
    unauthorizedError: (_parent, context) => (context.identity ? forbidden() : unauthenticated()),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    // Descriptions of the parts every connection shares (Relay's cursor connection spec).
    pageInfoTypeOptions: { description: 'Where a page of a connection stands: whether more follow, and the cursors at its ends.' },
    pageInfoFieldOptions: { description: 'Where this page stands.' },
    edgesFieldOptions: { description: 'The page’s items, in order, each with its cursor.' },
    cursorFieldOptions: { description: 'Opaque: pass it as `after` to read the items after this one.' },
    nodeFieldOptions: { description: 'The item.' },
    hasNextPageFieldOptions: { description: 'Whether items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'Whether items come before this page (it was read with `after`).' },
    startCursorFieldOptions: { description: 'Cursor of the page’s first item; null for an empty page.' },
    endCursorFieldOptions: { description: 'Cursor of the page’s last item, to pass as `after` for the next page; null for an empty page.' },
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSONObject', JSONObjectResolver);
builder.scalarType('File', {
  description: 'A file sent with the GraphQL multipart request spec (an `operations` and `map` form).',
  serialize: () => {
    throw new Error('File is an input-only scalar');
  },
  parseValue: (value) => {
    // yoga puts the uploaded File in the variables; anything else was not sent as a file part.
    if (typeof value === 'object' && value !== null && 'stream' in value && 'name' in value) return value as File;
    throw new GraphQLError('Expected a file sent as a multipart form part');
  },
  parseLiteral: () => {
    throw new GraphQLError('A file cannot be written inline; send it as a multipart form part');
  },
});
builder.queryType({ description: 'What can be read: your account, conversations, files, usage, models; admins read users and reports.' });
builder.mutationType({ description: 'What can be changed: accounts and sessions, conversations and their messages, generations, files, folders, shares, keys.' });
builder.subscriptionType({ description: 'Live events: a generation’s tokens, a conversation’s changes, your usage.' });

/** Forward-only connection arguments, as the contract has them: `(first, after)`. */
export const pageArgs = builder.args((t) => ({
  first: t.int({ required: false, description: 'Page size, 1 to 100 (default 20).' }),
  after: t.string({ required: false, description: 'Cursor of the last item of the previous page.' }),
}));

/** Turns a store page into a Relay connection. */
export function toConnection<T>(page: { items: T[]; hasNextPage: boolean }, cursorOf: (item: T) => string, after?: string | null) {
  const edges = page.items.map((node) => ({ node, cursor: cursorOf(node) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: Boolean(after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
