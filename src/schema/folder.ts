import type { FolderRecord } from '../store/labels.ts';
import { builder } from './builder.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';

export const FolderRef = builder.objectRef<FolderRecord>('Folder').implement({
  interfaces: [NodeRef],
  description: 'A folder of conversations; its system prompt applies to those of its conversations that have none.',
  fields: (t) => ({
    id: t.id({ description: 'The folder’s global id.', resolve: (f) => globalId('Folder', f.folderId) }),
    name: t.exposeString('name', { description: 'Its name.' }),
    systemPrompt: t.exposeString('systemPrompt', { nullable: true, description: 'Instructions for the model in its conversations that have none of their own.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was made.', resolve: (folder) => folder.createdAt }),
  }),
});

builder.queryFields((t) => ({
  folders: t.withAuth({ authenticated: true }).field({
    type: [FolderRef],
    description: 'The user’s folders, oldest first.',
    resolve: (_root, _args, context) => context.services.conversations.organiser.folders(context.identity.userId),
  }),
}));

builder.mutationFields((t) => ({
  createFolder: t.withAuth({ authenticated: true }).field({
    type: FolderRef,
    description: 'Makes a folder; its system prompt applies to the conversations in it that have none.',
    args: { name: t.arg.string({ required: true, description: '1 to 100 characters.' }), systemPrompt: t.arg.string({ required: false }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.createFolder(context.identity.userId, args.name, args.systemPrompt),
  }),
  renameFolder: t.withAuth({ authenticated: true }).field({
    type: FolderRef,
    description: 'Renames one of your folders.',
    args: { id: t.arg.id({ required: true }), name: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.renameFolder(context.identity.userId, rawId('Folder', args.id), args.name),
  }),
  setFolderSystemPrompt: t.withAuth({ authenticated: true }).field({
    type: FolderRef,
    description: 'The system prompt of the folder’s conversations that have none of their own; null removes it.',
    args: { id: t.arg.id({ required: true }), systemPrompt: t.arg.string({ required: false }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.setFolderSystemPrompt(context.identity.userId, rawId('Folder', args.id), args.systemPrompt ?? null),
  }),
  deleteFolder: t.withAuth({ authenticated: true }).id({
    description: 'Deletes the folder; its conversations move out of it (none is deleted). Returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('Folder', args.id);
      await context.services.conversations.organiser.deleteFolder(context.identity.userId, id);
      return globalId('Folder', id);
    },
  }),
}));
