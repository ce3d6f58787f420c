import { MessageRepository, type MessageRecord } from '../store/messages.ts';
import { builder } from './builder.ts';
import { StoredFileRef } from './file.ts';

export const MessageRoleEnum = builder.enumType('MessageRole', {
  values: { SYSTEM: { value: 'system' }, USER: { value: 'user' }, ASSISTANT: { value: 'assistant' } } as const,
});

export const MessageRef = builder.objectRef<MessageRecord>('Message').implement({
  fields: (t) => ({
    id: t.exposeID('messageId'),
    conversationId: t.exposeID('conversationId'),
    role: t.field({ type: MessageRoleEnum, resolve: (message) => message.role }),
    content: t.exposeString('content'),
    parentId: t.exposeID('parentId', {
      nullable: true,
      description: 'The message this one follows; edited and regenerated replies share a parent.',
    }),
    model: t.exposeString('model', { nullable: true, description: 'Model that wrote an assistant message.' }),
    promptTokens: t.exposeInt('promptTokens', { nullable: true }),
    completionTokens: t.exposeInt('completionTokens', { nullable: true }),
    finishReason: t.exposeString('finishReason', { nullable: true, description: 'Assistant replies: stop, length, eos or cancelled.' }),
    interrupted: t.boolean({ description: 'An assistant reply cut short by cancelGeneration.', resolve: (m) => m.interrupted ?? false }),
    attachments: t.field({
      type: [StoredFileRef],
      description: 'Files attached to the message; deleted ones are left out.',
      resolve: (m, _args, context) => (m.fileIds?.length ? context.services.files.existing(m.userId, m.fileIds) : []),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (message) => message.createdAt }),
  }),
});

export const MessageConnection = builder.connectionObject({ type: MessageRef, name: 'MessageConnection' });

export const messageCursor = MessageRepository.cursorOf;
