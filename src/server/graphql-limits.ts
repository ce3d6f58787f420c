/**
 * Limits on what one GraphQL document may ask for, checked while parsing and validating, so
 * that a hostile document is refused before anything executes (over HTTP and WebSocket alike:
 * both run through yoga's envelop).
 */
import { useDisableIntrospection } from '@envelop/disable-introspection';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLArmorCallbackConfiguration } from '@escape.tech/graphql-armor-types';
import type { DocumentNode } from 'graphql';
import type { Plugin, YogaServerOptions } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config.ts';

/**
 * Characters of document text kept parsed, per cache. A parsed document, with its tokens and
 * locations, takes ~100 bytes per character of text: this keeps each cache near 12 MiB.
 */
const PARSER_CACHE_CHARS = 128 * 1024;
/** Client operations are a few KiB; a larger document is parsed each time rather than kept. */
const PARSER_CACHE_MAX_DOCUMENT_CHARS = 16 * 1024;

/**
 * Yoga caches parsed documents and parse errors by their text, 1024 entries each whatever
 * their size: 1024 distinct 1 MiB documents would pin a gigabyte. These caches are bounded by
 * the characters they hold instead (the same LRU library yoga uses), and skip large documents.
 */
export function boundedParserCache(): YogaServerOptions<object, object>['parserAndValidationCache'] {
  const cache = <T extends object>() =>
    new LRUCache<string, T>({
      max: 1024,
      maxSize: PARSER_CACHE_CHARS,
      maxEntrySize: PARSER_CACHE_MAX_DOCUMENT_CHARS,
      sizeCalculation: (_value, key) => Math.max(1, key.length),
      ttl: 3_600_000,
    });
  return { documentCache: cache<DocumentNode>(), errorCache: cache<object>() };
}

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
