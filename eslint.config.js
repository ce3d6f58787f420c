import js from '@eslint/js';
import graphql from '@graphql-eslint/eslint-plugin';
import tseslint from 'typescript-eslint';

const graphqlFiles = { languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig: { schema: 'schema/schema.graphql', documents: ['schema/*.graphql', '!schema/schema.graphql'] } } }, plugins: { '@graphql-eslint': graphql } };

export default tseslint.config(
  { ignores: ['node_modules', 'dist', 'data', 'src/generated', 'model/default', '**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  // The schema: naming, a description on every type and field, Relay's connection rules.
  {
    files: ['schema/schema.graphql'],
    ...graphqlFiles,
    rules: {
      ...graphql.configs['flat/schema-recommended'].rules,
      ...graphql.configs['flat/schema-relay'].rules,
      '@graphql-eslint/require-description': ['error', { types: true, rootField: true, FieldDefinition: true, DirectiveDefinition: true }],
      // Pages are read forwards only, `(first, after)`, as the contract has them.
      '@graphql-eslint/relay-arguments': ['error', { includeBoth: false }],
      // Edges' nodes need not implement Node: a usage report row and a search hit have no identity
      // of their own. Lists of plain values (a branch's messages, tags) are not connections.
      '@graphql-eslint/relay-edge-types': ['error', { withEdgeSuffix: true, shouldImplementNode: false, listTypeCanWrapOnlyEdgeType: false }],
      // Entities have an `id: ID!`; these are values (results, events, figures) with no identity of their own.
      '@graphql-eslint/strict-id-in-types': [
        'error',
        {
          exceptions: {
            suffixes: ['Connection', 'Edge', 'Usage', 'Period', 'Row', 'Timings', 'Result', 'Session'],
            types: ['PageInfo', 'Completion', 'ConversationEvent', 'CreatedApiKey', 'GenerationCompleted', 'GenerationFailed', 'GenerationToken', 'Model', 'SearchHit', 'SharedMessage', 'TokenLogprob', 'UserQuota'],
          },
        },
      ],
    },
  },
  // The client operations (the chat page's and the tests'): valid against the schema, named.
  {
    files: ['schema/*.graphql'],
    ignores: ['schema/schema.graphql'],
    ...graphqlFiles,
    rules: graphql.configs['flat/operations-recommended'].rules,
  },
);
