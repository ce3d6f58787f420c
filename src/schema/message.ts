import type { MessageTree } from '../conversations/branches.ts';
import type { Context } from '../context.ts';
import { MessageRepository, type MessageRecord } from '../store/messages.ts';
import { builder } from './builder.ts';
import { StoredFileRef } from './file.ts';
import { globalId } from './global-id.ts';
import { NodeRef } from './node.ts';

export const MessageRoleEnum = builder.enumType('MessageRole', {
  description: 'Who wrote a message: the system prompt, you, or the model.',
  values: { SYSTEM: { value: 'system' }, USER: { value: 'user' }, ASSISTANT: { value: 'assistant' } } as const,
});

export const MessageRef = builder.objectRef<MessageRecord>('Message').implement({
  interfaces: [NodeRef],
  description: 'A message of a conversation: yours or the model’s.',
  fields: (t) => ({
    id: t.id({ description: 'The message’s global id.', resolve: (m) => globalId('Message', m.messageId) }),
    conversationId: t.id({ description: 'The conversation it belongs to (its global id).', resolve: (m) => globalId('Conversation', m.conversationId) }),
    role: t.field({ type: MessageRoleEnum, description: 'Who wrote it.', resolve: (message) => message.role }),
    content: t.exposeString('content', { description: 'Its text.' }),
    parentId: t.id({
      nullable: true,
      description: 'The message this one follows; edited and regenerated replies share a parent.',
      resolve: (m) => (m.parentId ? globalId('Message', m.parentId) : null),
    }),
    model: t.exposeString('model', { nullable: true, description: 'Model that wrote an assistant message.' }),
    promptTokens: t.exposeInt('promptTokens', { nullable: true, description: 'Assistant replies: tokens the model read to write it.' }),
    completionTokens: t.exposeInt('completionTokens', { nullable: true, description: 'Assistant replies: tokens it is made of.' }),
    finishReason: t.exposeString('finishReason', { nullable: true, description: 'Assistant replies: stop, length, eos or cancelled.' }),
    interrupted: t.boolean({ description: 'An assistant reply cut short by cancelGeneration.', resolve: (m) => m.interrupted ?? false }),
    attachments: t.field({
      type: [StoredFileRef],
      description: 'Files attached to the message; deleted ones are left out.',
      resolve: (m, _args, context) => (m.fileIds?.length ? context.services.files.existing(m.userId, m.fileIds) : []),
    }),
    siblingIndex: t.int({
      description: 'Which version this is among the messages with the same parent, from 0, in writing order (‹ 2/3 › shows siblingIndex + 1 of siblingCount).',
      resolve: async (m, _args, context) => Math.max(0, (await context.loaders.messageTree.load(m.conversationId)).siblingsOf(m.messageId).indexOf(m.messageId)),
    }),
    siblingCount: t.int({
      description: 'Messages with the same parent, this one included: more than 1 after an edit or a regenerate.',
      resolve: async (m, _args, context) => Math.max(1, (await context.loaders.messageTree.load(m.conversationId)).siblingsOf(m.messageId).length),
    }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was written.', resolve: (message) => message.createdAt }),
  }),
});

/** A field listing messages of the same conversation that the message's place in its tree picks. */
const related = (pick: (tree: MessageTree, messageId: string) => readonly string[]) => async (m: MessageRecord, _args: unknown, context: Context) =>
  context.services.messages.getMany(m.conversationId, pick(await context.loaders.messageTree.load(m.conversationId), m.messageId));

// Apart from the type's definition: a field of a type's own type there leaves TypeScript unable to infer it.
builder.objectFields(MessageRef, (t) => ({
  siblings: t.field({
    type: [MessageRef],
    description: 'The versions of this message: it and the messages with the same parent, in writing order (siblingIndex is its place here).',
    resolve: related((tree, id) => tree.siblingsOf(id)),
  }),
  children: t.field({
    type: [MessageRef],
    description: 'The messages that follow this one (replies, and the versions of the next message), in writing order.',
    resolve: related((tree, id) => tree.childrenOf(id)),
  }),
}));

export const MessageConnection = builder.connectionObject({ type: MessageRef, name: 'MessageConnection', description: 'A page of messages, oldest first.' }, { description: 'A message in a page, with its cursor.' });

export const messageCursor = MessageRepository.cursorOf;
