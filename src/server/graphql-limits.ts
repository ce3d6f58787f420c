/**
 * Limits on what one GraphQL document may ask for, checked while parsing and validating, so
 * that a hostile document is refused before anything executes (over HTTP and WebSocket alike:
 * both run through yoga's envelop).
 */
import { useDisableIntrospection } from '@envelop/disable-introspection';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLArmorCallbackConfiguration } from '@escape.tech/graphql-armor-types';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';

/**
 * Armor's envelop plugins throw out of validation by default, which reaches the client as an
 * unexpected (INTERNAL) error; reported as validation errors they are the client's
 * (BAD_USER_INPUT), like any other invalid document. The token limit acts in the parser, where
 * there is no validation context: it throws a syntax error, which is already the client's.
 */
const reportAsValidationError: GraphQLArmorCallbackConfiguration = {
  propagateOnRejection: false,
  onReject: [(context, error) => context?.reportError(error)],
};

export function graphqlLimitPlugins(limits: Config['graphql']): Plugin[] {
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: limits.maxDepth, ...reportAsValidationError },
      maxAliases: { n: limits.maxAliases, ...reportAsValidationError },
      maxTokens: { n: limits.maxTokens },
      maxDirectives: { n: limits.maxDirectives, ...reportAsValidationError },
      costLimit: { maxCost: limits.maxCost, ...reportAsValidationError },
      // Armor's only catches field suggestions in validation errors; src/server/errors.ts hides
      // every kind (enum values, types, variable coercion) instead.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
  ];
  if (!limits.introspection) plugins.push(useDisableIntrospection() as Plugin);
  return plugins;
}
