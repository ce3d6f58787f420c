import type { ApiKeyRecord } from '../store/api-keys.ts';
import { builder } from './builder.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';

const ApiKeyRef = builder.objectRef<ApiKeyRecord>('ApiKey').implement({
  interfaces: [NodeRef],
  description: 'A key for the OpenAI-compatible API at /v1 (`Authorization: Bearer gq_…`); it acts as you, with your role, rate limits and quota.',
  fields: (t) => ({
    id: t.id({ description: 'The key’s global id: what `revokeApiKey` takes.', resolve: (k) => globalId('ApiKey', k.keyId) }),
    name: t.exposeString('name', { description: 'What you called it when you made it.' }),
    prefix: t.exposeString('prefix', { description: 'The key’s first characters, to tell it apart.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was made.', resolve: (key) => key.createdAt }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, description: 'After this it is refused; null: it does not expire.', resolve: (key) => key.expiresAt ?? null }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, description: 'To the minute.', resolve: (key) => key.lastUsedAt ?? null }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ key: string; record: ApiKeyRecord }>('CreatedApiKey').implement({
  description: 'A new API key: its secret, shown once, and its record.',
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The secret: shown this once, never stored (only its hash is).' }),
    apiKey: t.field({ type: ApiKeyRef, description: 'The key as `apiKeys` lists it.', resolve: (created) => created.record }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.withAuth({ authenticated: true }).field({
    type: [ApiKeyRef],
    description: 'Your API keys, oldest first.',
    resolve: (_root, _args, context) => context.services.apiKeys.list(context.identity.userId),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.withAuth({ authenticated: true }).field({
    type: CreatedApiKeyRef,
    description: 'A new key for /v1 (at most 50 per user). API keys themselves cannot call GraphQL.',
    args: { name: t.arg.string({ required: true, description: '1 to 100 characters.' }), expiresAt: t.arg({ type: 'DateTime', required: false, description: 'In the future; none: until revoked.' }) },
    resolve: (_root, args, context) => context.services.apiKeys.create(context.identity.userId, args.name, args.expiresAt),
  }),
  revokeApiKey: t.withAuth({ authenticated: true }).id({
    description: 'Refused from the next request on, on every process. Returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('ApiKey', args.id);
      await context.services.apiKeys.revoke(context.identity.userId, id);
      return globalId('ApiKey', id);
    },
  }),
}));
