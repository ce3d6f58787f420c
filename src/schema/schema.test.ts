import fs from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import codegenConfig from '../../codegen.ts';
import { MANIFEST_FILE, manifestText, PRESET_FILE } from '../../scripts/persisted-manifest.ts';
import { printSchemaFile, SCHEMA_FILE } from './print.ts';

describe('checked-in schema artefacts', () => {
  it('schema/schema.graphql equals the schema printed from the code', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8'), 'run `npm run schema:print`').toBe(printSchemaFile());
  });

  it('`npm run codegen` would leave src/generated unchanged', async () => {
    const outputs = await generate({ ...codegenConfig, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      // The persisted documents are kept as the manifest (codegen's hook moves them there).
      const [file, content] = path.resolve(output.filename) === path.resolve(PRESET_FILE) ? [MANIFEST_FILE, manifestText(JSON.parse(output.content) as Record<string, string>)] : [output.filename, output.content];
      const onDisk = fs.readFileSync(path.resolve(file), 'utf8');
      expect(onDisk, `${file} is stale: run \`npm run codegen\``).toBe(content);
    }
  });
});
