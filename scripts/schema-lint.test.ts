/**
 * graphql-eslint over schema/ (as `npm run lint` runs it, from eslint.config.js): the schema has
 * a description on every type and field, follows the naming and Relay connection rules, and the
 * client operations are valid and named. Part of the suite, so CI holds the schema to it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: root });
const problems = (results: ESLint.LintResult[]) => results.flatMap((r) => r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line} ${m.ruleId}: ${m.message}`));

describe('graphql-eslint', () => {
  it('finds nothing in the schema and the client operations', async () => {
    expect(problems(await eslint.lintFiles(['schema/*.graphql']))).toEqual([]);
  }, 120_000);

  it('reports a field without a description, a badly named one, and an unnamed operation', async () => {
    const schema = fs.readFileSync(path.join(root, 'schema/schema.graphql'), 'utf8').replace(/^type Query \{\n/m, 'type Query {\n  snake_field: String\n');
    const found = problems(await eslint.lintText(schema, { filePath: path.join(root, 'schema/schema.graphql') }));
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/require-description: .*snake_field/), expect.stringMatching(/naming-convention: .*snake_field/)]));
    const operation = problems(await eslint.lintText('query { me { id } }\n', { filePath: path.join(root, 'schema/extra.graphql') }));
    expect(operation).toEqual(expect.arrayContaining([expect.stringMatching(/no-anonymous-operations/)]));
  }, 120_000);
});
