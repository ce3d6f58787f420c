/**
 * Follows one generation over graphql-ws, token by token, and keeps the last event seen in
 * sessionStorage so that a reload (or a dropped connection) resumes with `after: index` instead
 * of starting over.
 */
import { GenerationEventsDocument, type GenerationEventFieldsFragment } from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { session, type PendingGeneration } from './session.ts';

type Event = GenerationEventFieldsFragment;
export type Completed = Extract<Event, { __typename: 'GenerationCompleted' }>;
export type Failed = Extract<Event, { __typename: 'GenerationFailed' }>;

export interface StreamHandlers {
  /** The whole reply so far, after each token. */
  text(text: string): void;
  completed(event: Completed): void;
  failed(message: string): void;
}

/** A dropped connection is retried this many times before the reply is reported failed. */
const MAX_RETRIES = 5;

export function followGeneration(api: Api, start: PendingGeneration, handlers: StreamHandlers): { stop(): void } {
  const state = { ...start };
  let retries = 0;
  let stopped = false;
  let unsubscribe = () => {};

  const finish = () => {
    stopped = true;
    unsubscribe();
    session.setPending(undefined);
  };

  const subscribe = () => {
    unsubscribe = api.subscribe(GenerationEventsDocument, { id: state.id, after: state.index }, {
      next: ({ generation: event }) => {
        // graphql-ws re-subscribes with the first `after` when it reconnects on its own: skip
        // what was already shown.
        if (stopped || event.index <= state.index) return;
        retries = 0;
        state.index = event.index;
        if (event.__typename === 'GenerationToken') {
          state.text += event.delta;
          session.setPending(state);
          handlers.text(state.text);
        } else if (event.__typename === 'GenerationCompleted') {
          finish();
          handlers.completed(event);
        } else {
          finish();
          handlers.failed(event.error);
        }
      },
      error: (error) => {
        if (stopped) return;
        if (retries++ >= MAX_RETRIES) {
          finish();
          handlers.failed(error instanceof Error ? error.message : 'The connection was lost');
          return;
        }
        // Often an expired token (close 4401): reconnect, which asks for a fresh one.
        api.resetSocket();
        setTimeout(subscribe, 250 * 2 ** retries);
      },
      complete: () => {},
    });
  };

  session.setPending(state);
  if (state.text) handlers.text(state.text);
  subscribe();
  return {
    stop() {
      stopped = true;
      unsubscribe();
    },
  };
}
