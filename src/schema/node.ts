/**
 * Relay object identification: the `Node` interface, and `node(id)` / `nodes(ids)` to refetch any
 * object by its global id (src/schema/global-id.ts). Ownership applies as everywhere: another
 * user's object is null with NOT_FOUND at its path, the same as a made-up id; in `nodes` the
 * others still resolve.
 */
import type { AuthenticatedContext } from '../context.ts';
import { isAdmin } from '../auth/roles.ts';
import { badInput, notFound } from '../errors.ts';
import { builder } from './builder.ts';
import { nodeNotFound, parseGlobalId, type NodeType } from './global-id.ts';

const MAX_NODES = 100;

/** Which type each object node(s) returned is: records carry no typename of their own. */
const typeOf = new WeakMap<object, NodeType>();

export const NodeRef = builder.interfaceRef<object>('Node').implement({
  description: 'An object with an identity of its own: `node(id)` refetches it by its global id.',
  fields: (t) => ({
    id: t.id({
      description: 'A global id: it says the object’s type. Every id argument takes it.',
      // Each type resolves its own id (from its record); an object reaching this did not implement it.
      resolve: () => {
        throw new Error('Node.id is resolved by each type');
      },
    }),
  }),
  resolveType: (value) => typeOf.get(value),
});

/** The object a global id names, if it is the requesting user's; NOT_FOUND otherwise. */
async function load(context: AuthenticatedContext, value: string): Promise<object> {
  const parsed = parseGlobalId(value);
  if (!parsed) throw notFound('Object');
  const { type, id } = parsed;
  const { services, identity } = context;
  const userId = identity.userId;
  const found = await (async (): Promise<object | undefined> => {
    switch (type) {
      case 'Conversation':
        return services.conversations.own(userId, id);
      case 'Message': {
        const message = await services.messages.findById(id);
        return message?.userId === userId ? message : undefined;
      }
      case 'StoredFile':
        return services.files.own(userId, id);
      case 'User':
        return id === userId || isAdmin(identity.roles) ? context.loaders.user.load(id) : undefined;
      case 'Folder':
        return services.conversations.organiser.findFolder(userId, id);
      case 'Share':
        return services.conversations.shares.own(userId, id);
      case 'ApiKey':
        return (await services.apiKeys.list(userId)).find((key) => key.keyId === id);
      case 'Generation':
        return { meta: await services.generation.own(identity, id) };
    }
  })();
  if (!found) throw nodeNotFound(type);
  typeOf.set(found, type);
  return found;
}

builder.queryFields((t) => ({
  node: t.withAuth({ authenticated: true }).field({
    type: NodeRef,
    nullable: true,
    description: 'Any object of yours by its global id; null with NOT_FOUND for anyone else’s, and for ids that name nothing.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => load(context, String(args.id)),
  }),
  nodes: t.withAuth({ authenticated: true }).field({
    type: [NodeRef],
    nullable: { list: false, items: true },
    description: 'Several objects by their global ids, in order: each one not found is null, with NOT_FOUND at its index (at most 100 ids).',
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, args, context) => {
      if (args.ids.length > MAX_NODES) throw badInput(`At most ${MAX_NODES} ids at once`, { argument: 'ids' });
      return args.ids.map((id) => load(context, String(id)));
    },
  }),
}));
