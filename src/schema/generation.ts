import { mapAsyncIterator } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { AppError, ErrorCode } from '../errors.ts';
import type { GenerationMeta, StreamEvent } from '../streams/events.ts';
import type { ServedModel } from '../generation/model-directory.ts';
import type { RequestParams, StatelessInput } from '../generation/service.ts';
import type { ChatRole } from '../inference/prompt.ts';
import type { TokenAlternative } from '../inference/protocol.ts';
import { builder } from './builder.ts';
import { ConversationRef } from './conversation.ts';
import { MessageRef, MessageRoleEnum } from './message.ts';
import { globalId, rawId, rawIds } from './global-id.ts';
import { NodeRef } from './node.ts';

const GenerationStatusEnum = builder.enumType('GenerationStatus', {
  description: 'Where a generation stands: waiting for a worker, running, or ended one of three ways.',
  values: ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const,
});

const FinishReasonEnum = builder.enumType('FinishReason', {
  description: 'Why a reply ended: a stop sequence, the token limit, the model’s end of sequence, or a cancellation.',
  values: { STOP: { value: 'stop' }, LENGTH: { value: 'length' }, EOS: { value: 'eos' }, CANCELLED: { value: 'cancelled' } } as const,
});

const GenerationParamsInput = builder.inputType('GenerationParams', {
  description: 'Sampling settings; unset ones take the model’s defaults.',
  fields: (t) => ({
    maxTokens: t.int({ required: false, description: 'Most tokens to generate (bounded by the context window).' }),
    minTokens: t.int({ required: false, description: 'The reply does not end (by the model’s end-of-sequence token) before this many tokens; 0 by default.' }),
    temperature: t.float({ required: false, description: '0 to 2; 0 is greedy.' }),
    topK: t.int({ required: false, description: 'Keep the k most likely tokens; 0 is off.' }),
    topP: t.float({ required: false, description: 'Nucleus sampling, (0, 1].' }),
    minP: t.float({ required: false, description: 'Drop tokens less likely than minP × the best one, [0, 1].' }),
    repetitionPenalty: t.float({ required: false, description: '> 0; 1 is off.' }),
    frequencyPenalty: t.float({ required: false, description: '-2 to 2.' }),
    presencePenalty: t.float({ required: false, description: '-2 to 2.' }),
    seed: t.int({ required: false, description: 'Same seed, same output.' }),
    stop: t.stringList({ required: false, description: 'Up to 8 texts that end the reply (not included in it).' }),
    logprobs: t.int({
      required: false,
      description: 'Report each token’s log-probability (`GenerationToken.logprob`) and this many most likely alternatives (`topLogprobs`), 0 to 20. Unset: none are computed.',
    }),
    model: t.string({
      required: false,
      description: 'Which model answers: one of `models`. Default: in a conversation the model of its last reply, else the first model `models` lists.',
    }),
  }),
});

const SendMessageInput = builder.inputType('SendMessageInput', {
  description: 'A message of yours, and how the reply is generated.',
  fields: (t) => ({
    conversationId: t.id({ required: false, description: 'Omitted: a new conversation, titled from the message.' }),
    content: t.string({ required: true }),
    parentId: t.id({ required: false, description: 'Message this one follows (for edits); default: the newest.' }),
    params: t.field({ type: GenerationParamsInput, required: false }),
    fileIds: t.idList({ required: false, description: 'Your files to attach (at most 10); text files are given to the model with the message.' }),
  }),
});

const ChatMessageInput = builder.inputType('ChatMessageInput', {
  description: 'One message of a stateless chat.',
  fields: (t) => ({
    role: t.field({ type: MessageRoleEnum, required: true }),
    content: t.string({ required: true }),
  }),
});

const GenerateInput = builder.inputType('GenerateInput', {
  description: 'A generation outside any conversation: give `prompt` (raw text) or `messages` (chat).',
  fields: (t) => ({
    prompt: t.string({ required: false }),
    messages: t.field({ type: [ChatMessageInput], required: false }),
    params: t.field({ type: GenerationParamsInput, required: false }),
  }),
});

interface GenerationShape {
  meta: GenerationMeta;
}

const GenerationRef = builder.objectRef<GenerationShape>('Generation').implement({
  interfaces: [NodeRef],
  description: 'A reply being generated; follow it with the `generation(id, after)` subscription.',
  fields: (t) => ({
    id: t.id({ description: 'The generation’s global id: what `generation(id)` and `cancelGeneration` take.', resolve: ({ meta }) => globalId('Generation', meta.generationId) }),
    status: t.field({
      type: GenerationStatusEnum,
      description: 'Where it stands now.',
      resolve: async ({ meta }, _args, context) => (await context.services.streams.get(meta.generationId))?.status ?? meta.status,
    }),
    conversation: t.field({
      type: ConversationRef,
      nullable: true,
      description: 'The conversation the reply goes to; null for stateless generations.',
      resolve: ({ meta }, _args, context) => (meta.conversationId ? context.loaders.conversation.load(meta.conversationId) : null),
    }),
    userMessage: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The message being answered; null for stateless generations and regenerations.',
      resolve: ({ meta }, _args, context) =>
        meta.conversationId && meta.userMessageId ? context.services.messages.get(meta.conversationId, meta.userMessageId) : null,
    }),
    replyMessageId: t.id({ nullable: true, description: 'Id the reply will be stored under.', resolve: ({ meta }) => (meta.replyMessageId ? globalId('Message', meta.replyMessageId) : null) }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was asked for.', resolve: ({ meta }) => meta.createdAt }),
  }),
});

const UsageRef = builder.objectRef<{ promptTokens: number; completionTokens: number }>('Usage').implement({
  description: 'Tokens a generation used.',
  fields: (t) => ({
    promptTokens: t.exposeInt('promptTokens', { description: 'Tokens the model read: the prompt, with the conversation so far.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Tokens it generated.' }),
    totalTokens: t.int({ description: 'Both together.', resolve: (u) => u.promptTokens + u.completionTokens }),
  }),
});

const TimingsRef = builder
  .objectRef<{ queueSeconds: number; timeToFirstTokenSeconds: number; tokensPerSecond: number }>('GenerationTimings')
  .implement({
    description: 'How long a generation took, as the worker measured it.',
    fields: (t) => ({
      queueSeconds: t.exposeFloat('queueSeconds', { description: 'Waiting for a batch slot.' }),
      timeToFirstTokenSeconds: t.exposeFloat('timeToFirstTokenSeconds', { description: 'From entering the engine’s queue to the first token.' }),
      tokensPerSecond: t.exposeFloat('tokensPerSecond', { description: 'Decoding rate after the first token (0 when only one was generated).' }),
    }),
  });

type EventShape = StreamEvent & { conversationId?: string };
type Completed = Extract<EventShape, { kind: 'completed' }>;

const TokenLogprobRef = builder.objectRef<TokenAlternative>('TokenLogprob').implement({
  description: 'A token and its log-probability under the model.',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The token’s text in context (part of a character shows as U+FFFD).' }),
    logprob: t.exposeFloat('logprob', { description: 'Natural log of its probability, from the raw logits (before penalties, temperature and truncation).' }),
  }),
});

const GenerationTokenRef = builder.objectRef<Extract<EventShape, { kind: 'token' }>>('GenerationToken').implement({
  description: 'New text of a generation.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position in the stream, from 1; resume with `after: index`.' }),
    delta: t.exposeString('delta', { description: 'New text: whole characters, never half of one.' }),
    logprob: t.float({
      nullable: true,
      description:
        'Log-probability of this text under the model: the sum over its tokens (usually one; a character split over tokens takes several). Null unless `GenerationParams.logprobs` was set.',
      resolve: (event) => (event.logprobs ? event.logprobs.reduce((sum, entry) => sum + entry.logprob, 0) : null),
    }),
    topLogprobs: t.field({
      type: [TokenLogprobRef],
      nullable: true,
      description: 'The most likely tokens where this text’s first token was chosen, best first (`GenerationParams.logprobs` of them). Null unless asked for.',
      resolve: (event) => event.logprobs?.[0]?.top ?? null,
    }),
  }),
});

const GenerationCompletedRef = builder.objectRef<Completed>('GenerationCompleted').implement({
  description: 'The last event of a generation that ended: its whole text, usage and timings.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position in the stream, after the last token.' }),
    message: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The stored reply (null for stateless generations).',
      resolve: (e, _args, context) => (e.messageId && e.conversationId ? context.services.messages.get(e.conversationId, e.messageId) : null),
    }),
    text: t.exposeString('text', { description: 'The whole reply.' }),
    usage: t.field({ type: UsageRef, description: 'Tokens used, as the usage ledger recorded them.', resolve: (e) => e.usage }),
    finishReason: t.field({ type: FinishReasonEnum, description: 'Why it ended.', resolve: (e) => e.finishReason }),
    timings: t.field({ type: TimingsRef, description: 'How long it took.', resolve: (e) => e.timings }),
    model: t.exposeString('model', { description: 'The model that answered.' }),
    cached: t.exposeBoolean('cached', { description: 'Served from the response cache.' }),
  }),
});

const GenerationFailedRef = builder.objectRef<Extract<EventShape, { kind: 'failed' }>>('GenerationFailed').implement({
  description: 'The last event of a generation that failed; the text streamed before it stays.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position in the stream, after the last token.' }),
    code: t.exposeString('code', { description: 'As `extensions.code` of errors: BAD_USER_INPUT, UNAVAILABLE, INTERNAL, …' }),
    message: t.exposeString('message', { description: 'What went wrong, for people.' }),
  }),
});

const GenerationEventUnion = builder.unionType('GenerationEvent', {
  description: 'One event of a generation: tokens, then one completed or failed event.',
  types: [GenerationTokenRef, GenerationCompletedRef, GenerationFailedRef],
  resolveType: (event) =>
    event.kind === 'token' ? GenerationTokenRef : event.kind === 'completed' ? GenerationCompletedRef : GenerationFailedRef,
});

const CompletionRef = builder.objectRef<Completed>('Completion').implement({
  description: 'A whole stateless completion (`generate`).',
  fields: (t) => ({
    text: t.exposeString('text', { description: 'The generated text.' }),
    usage: t.field({ type: UsageRef, description: 'Tokens used.', resolve: (e) => e.usage }),
    finishReason: t.field({ type: FinishReasonEnum, description: 'Why it ended.', resolve: (e) => e.finishReason }),
    model: t.exposeString('model', { description: 'The model that answered.' }),
    cached: t.exposeBoolean('cached', { description: 'Served from the response cache.' }),
  }),
});

const ModelRef = builder.objectRef<ServedModel>('Model').implement({
  description: 'A model the workers serve.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What `GenerationParams.model` takes.' }),
    architecture: t.exposeString('architecture', { description: 'As config.json names it, e.g. LlamaForCausalLM.' }),
    dtype: t.exposeString('dtype', { description: 'The weights variant served: fp32, fp16, int8, q4, q4f16 or quantized.' }),
    // Float: counts pass 2^31 (a 7B model), beyond GraphQL's Int; a double holds them exactly.
    parameters: t.exposeFloat('parameters', { nullable: true, description: 'Weights in the model; null where the architecture cannot be counted.' }),
    contextLength: t.exposeInt('contextLength', { description: 'Tokens of prompt and reply together.' }),
    chatTemplate: t.exposeBoolean('chatTemplate', { description: 'Whether chats are written with the model’s own chat template (else as a plain transcript).' }),
    workers: t.exposeStringList('workers', { description: 'The workers serving it, by their queue consumer names.' }),
  }),
});

const recordRateLimit = (context: Context) => (state: NonNullable<Context['response']['rateLimit']>) => {
  context.response.rateLimit = state;
};

function statelessInput(input: { prompt?: string | null; messages?: { role: ChatRole; content: string }[] | null }): StatelessInput {
  if ((input.prompt == null) === (input.messages == null)) {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'Give exactly one of prompt and messages', { argument: 'input' });
  }
  return input.prompt != null ? { prompt: input.prompt } : { messages: input.messages! };
}

const toParams = (params: RequestParams | null | undefined) => params ?? undefined;

builder.queryFields((t) => ({
  models: t.withAuth({ authenticated: true }).field({
    type: [ModelRef],
    description: 'Models the workers serve; the first is the default one.',
    resolve: (_root, _args, context) => context.services.models.list(),
  }),
}));

builder.mutationFields((t) => ({
  sendMessage: t.withAuth({ authenticated: true }).field({
    type: GenerationRef,
    description: 'Stores your message (in a new conversation unless one is given) and starts the reply: follow it with `generation(id)`.',
    args: { input: t.arg({ type: SendMessageInput, required: true }) },
    resolve: async (_root, { input }, context) => ({
      meta: (await context.services.generation.sendMessage(context.identity, {
          ...input,
          conversationId: input.conversationId == null ? undefined : rawId('Conversation', input.conversationId),
          parentId: input.parentId == null ? undefined : rawId('Message', input.parentId),
          fileIds: input.fileIds ? rawIds('StoredFile', input.fileIds) : input.fileIds,
          params: toParams(input.params),
        }, recordRateLimit(context))).meta,
    }),
  }),
  regenerate: t.withAuth({ authenticated: true }).field({
    type: GenerationRef,
    description: 'A new reply to the same user message, beside the old one (same parent).',
    args: { messageId: t.arg.id({ required: true }), params: t.arg({ type: GenerationParamsInput, required: false }) },
    resolve: async (_root, args, context) => ({
      meta: (await context.services.generation.regenerate(context.identity, rawId('Message', args.messageId), toParams(args.params), recordRateLimit(context))).meta,
    }),
  }),
  editMessage: t.withAuth({ authenticated: true }).field({
    type: GenerationRef,
    description:
      'A new version of one of your messages: a message beside it (same parent, same attachments) and a reply to it, which become the active branch; the old branch stays (see `Message.siblingCount`, `setActiveLeaf`).',
    args: { messageId: t.arg.id({ required: true }), content: t.arg.string({ required: true }), params: t.arg({ type: GenerationParamsInput, required: false }) },
    resolve: async (_root, args, context) => ({
      meta: (await context.services.generation.editMessage(context.identity, rawId('Message', args.messageId), args.content, toParams(args.params), recordRateLimit(context))).meta,
    }),
  }),
  cancelGeneration: t.withAuth({ authenticated: true }).field({
    type: GenerationRef,
    description: 'Stops a generation within one decode step; the partial reply is kept, marked interrupted.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => ({ meta: await context.services.generation.cancel(context.identity, rawId('Generation', args.id)) }),
  }),
  generate: t.withAuth({ authenticated: true }).field({
    type: CompletionRef,
    description: 'A whole completion, outside any conversation; nothing is stored.',
    args: { input: t.arg({ type: GenerateInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const meta = await context.services.generation.startStateless(context.identity, 'generate', statelessInput(input), toParams(input.params), recordRateLimit(context));
      for await (const event of context.services.generation.events(meta, 0)) {
        if (event.kind === 'completed') return event;
        if (event.kind === 'failed') throw new AppError(event.code as ErrorCode, event.message);
      }
      throw new AppError(ErrorCode.INTERNAL, 'Generation ended without a result');
    },
  }),
}));

// These wrap the stream with mapAsyncIterator, not an async generator: a generator's return()
// waits for its pending next(), that is for the generation's next event, so a client that left
// a generation with no event coming (queued, stalled) stayed subscribed to it in Redis.

/** Adds the conversation id that `GenerationCompleted.message` needs to load the message. */
function withConversation(events: AsyncIterable<StreamEvent>, conversationId: string | undefined): AsyncIterableIterator<EventShape> {
  return mapAsyncIterator(events, (event) => ({ ...event, conversationId }));
}

/** Cancels a stateless generation whose client stopped listening (or whose stream failed) before it ended. */
function cancelIfAbandoned(events: AsyncIterable<StreamEvent>, cancel: () => Promise<void>): AsyncIterableIterator<EventShape> {
  let ended = false;
  const cancelUnlessEnded = () => (ended ? undefined : cancel());
  return mapAsyncIterator(
    events,
    (event) => {
      ended = event.kind !== 'token';
      return event;
    },
    async (error: unknown) => {
      await cancelUnlessEnded();
      throw error;
    },
    cancelUnlessEnded,
  );
}

// `subscribe` checks everything before it returns the stream, so that a refusal is an ordinary
// GraphQL error (an async generator would only raise it once read, as a broken stream).
builder.subscriptionFields((t) => ({
  generation: t.withAuth({ authenticated: true }).field({
    type: GenerationEventUnion,
    description: 'Events of one generation: those after index `after` (0: all) are replayed, then live ones follow.',
    args: { id: t.arg.id({ required: true }), after: t.arg.int({ required: false, defaultValue: 0 }) },
    subscribe: async (_root, args, context) => {
      const meta = await context.services.generation.own(context.identity, rawId('Generation', args.id));
      return withConversation(context.services.generation.events(meta, args.after ?? 0), meta.conversationId);
    },
    resolve: (event) => event,
  }),
  generateStream: t.withAuth({ authenticated: true }).field({
    type: GenerationEventUnion,
    description: 'A stateless generation, streamed; it is cancelled if the client goes away.',
    args: { input: t.arg({ type: GenerateInput, required: true }) },
    subscribe: async (_root, { input }, context) => {
      const service = context.services.generation;
      const meta = await service.startStateless(context.identity, 'stream', statelessInput(input), toParams(input.params), recordRateLimit(context));
      return cancelIfAbandoned(service.events(meta, 0), () => context.services.streams.requestCancel(meta.generationId));
    },
    resolve: (event) => event,
  }),
}));
