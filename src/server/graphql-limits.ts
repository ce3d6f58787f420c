/**
 * Limits on what one GraphQL document may ask for, checked while parsing and validating, so
 * that a hostile document is refused before anything executes (over HTTP and WebSocket alike:
 * both run through yoga's envelop).
 */
import { useDisableIntrospection } from '@envelop/disable-introspection';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';

export function graphqlLimitPlugins(limits: Config['graphql']): Plugin[] {
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: limits.maxDepth },
      maxAliases: { n: limits.maxAliases },
      maxTokens: { n: limits.maxTokens },
      maxDirectives: { n: limits.maxDirectives },
      costLimit: { maxCost: limits.maxCost },
      // Armor's only catches field suggestions in validation errors; src/server/errors.ts hides
      // every kind (enum values, types, variable coercion) instead.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
  ];
  if (!limits.introspection) plugins.push(useDisableIntrospection() as Plugin);
  return plugins;
}
