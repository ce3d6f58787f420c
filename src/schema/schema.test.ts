import fs from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import codegenConfig from '../../codegen.ts';
import { printSchemaFile, SCHEMA_FILE } from './print.ts';

describe('checked-in schema artefacts', () => {
  it('schema/schema.graphql equals the schema printed from the code', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8'), 'run `npm run schema:print`').toBe(printSchemaFile());
  });

  it('`npm run codegen` would leave src/generated unchanged', async () => {
    const outputs = await generate({ ...codegenConfig, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const onDisk = fs.readFileSync(path.resolve(output.filename), 'utf8');
      expect(onDisk, `${output.filename} is stale: run \`npm run codegen\``).toBe(output.content);
    }
  });
});
