import fs from 'node:fs';
import path from 'node:path';
import { parse, print, visit } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schemaChanges, unreleasedSection } from './schema-changes.ts';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const current = read('schema/schema.graphql');
const readme = read('README.md');
const withoutField = (sdl: string, type: string, field: string) =>
  print(visit(parse(sdl), { ObjectTypeDefinition: (node) => (node.name.value === type ? { ...node, fields: node.fields?.filter((f) => f.name.value !== field) } : undefined) }));
const changelog = (...lines: string[]) => `# x\n\n## Changelog\n\n### Unreleased\n\n${lines.join('\n')}\n\n### 0.1.0\n\n- \`Query.models\` was added here\n`;

describe('schema:check', () => {
  it('passes on this repository: every breaking change since the last release is in the changelog', async () => {
    const { unlisted } = await schemaChanges(read('schema/released/schema.graphql'), current, readme);
    expect(unlisted.map((change) => change.message)).toEqual([]);
  });

  it('fails on a removed field, until the changelog lists it under Unreleased', async () => {
    const removed = withoutField(current, 'Query', 'models');
    const { breaking, unlisted } = await schemaChanges(current, removed, changelog());
    expect(breaking.map((change) => change.path)).toEqual(['Query.models']);
    expect(unlisted.map((change) => change.path)).toEqual(['Query.models']);
    // Listed under an older release only: still unlisted.
    expect((await schemaChanges(current, removed, changelog('- nothing'))).unlisted).toHaveLength(1);
    expect((await schemaChanges(current, removed, changelog('- Removed `Query.models`: use `/v1/models`.'))).unlisted).toEqual([]);
  });

  it('passes on an added optional field and argument', async () => {
    const added = current
      .replace(/^type Query \{\n/m, 'type Query {\n  "A new field."\n  serverTime: String\n')
      .replace(/^ {2}models: \[Model!\]!$/m, '  models(includeIdle: Boolean): [Model!]!');
    const { all, breaking } = await schemaChanges(current, added, changelog());
    expect(all.map((change) => change.path)).toEqual(expect.arrayContaining(['Query.serverTime', 'Query.models.includeIdle']));
    expect(breaking).toEqual([]);
  });

  it('fails on an argument made required', async () => {
    const required = current.replace(/^ {2}models: \[Model!\]!$/m, '  models(includeIdle: Boolean!): [Model!]!');
    const before = current.replace(/^ {2}models: \[Model!\]!$/m, '  models(includeIdle: Boolean): [Model!]!');
    expect((await schemaChanges(before, required, changelog())).unlisted.map((change) => change.path)).toEqual(['Query.models.includeIdle']);
  });

  it('reads the Unreleased section only', () => {
    expect(unreleasedSection(changelog('- `A.b`'))).toContain('`A.b`');
    expect(unreleasedSection(changelog('- `A.b`'))).not.toContain('Query.models');
    expect(unreleasedSection('# none')).toBe('');
  });
});
