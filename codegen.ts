import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the client operations in schema/*.graphql (used by tests and the web page),
 * each with its SHA-256 hash (`__meta__.hash`), and the manifest of persisted operations the server
 * runs by hash (PERSISTED_OPERATIONS): schema/persisted-operations.json, `{ "<sha256>": "<document>" }`.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['schema/*.graphql', '!schema/schema.graphql'],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'src/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false, persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' } },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', File: 'File', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
  hooks: { afterAllFileWrite: ['tsx scripts/persisted-operations.ts'] },
};

export default config;
