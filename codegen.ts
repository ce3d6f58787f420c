import type { CodegenConfig } from '@graphql-codegen/cli';

/** Typed documents for the client operations in schema/*.graphql (used by tests and the web page). */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['schema/*.graphql', '!schema/schema.graphql'],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'src/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', File: 'File', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
};

export default config;
