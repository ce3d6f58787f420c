/**
 * `npm run schema:check`: compares schema/schema.graphql with the last released schema
 * (schema/released/schema.graphql) and fails on breaking changes the README's changelog does not list
 * under "### Unreleased" (scripts/schema-changes.ts). `-- --release` makes the current schema the
 * released one, once its changes are dated in the changelog.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { schemaChanges } from './schema-changes.ts';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const { values } = parseArgs({ options: { release: { type: 'boolean', default: false } } });

const current = read('schema/schema.graphql');
if (values.release) {
  fs.writeFileSync(path.join(root, 'schema/released/schema.graphql'), current);
  console.log('schema/released/schema.graphql is now the current schema: give the changelog\'s "Unreleased" section its version and date.');
} else {
  const { all, breaking, unlisted } = await schemaChanges(read('schema/released/schema.graphql'), current, read('README.md'));
  for (const change of all) console.log(`${change.criticality.level.padEnd(12)} ${change.path ?? ''}: ${change.message}`);
  console.log(`${all.length} changes since the last release, ${breaking.length} breaking, ${unlisted.length} of them not in the changelog.`);
  if (unlisted.length > 0) {
    console.error(`\nBreaking changes not listed under "### Unreleased" in README.md's changelog (name each path in backticks, with what clients must do):\n${unlisted.map((c) => `  - \`${c.path ?? c.message}\`: ${c.message}`).join('\n')}`);
    process.exitCode = 1;
  }
}
