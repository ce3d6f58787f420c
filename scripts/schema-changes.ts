/**
 * What changed in the schema since the last release (schema/released/schema.graphql), as
 * graphql-inspector sees it, and which breaking changes the README's changelog does not list.
 * A breaking change is listed when its path (`Query.models`, `GenerationParams.logprobs`, or a
 * type's name) appears in backticks in the changelog's "Unreleased" section.
 */
import { CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';

export interface SchemaChanges {
  all: Change[];
  breaking: Change[];
  /** Breaking changes the changelog does not name: these fail the check. */
  unlisted: Change[];
}

/** The text of the changelog's "### Unreleased" section, up to the next heading of its level or above. */
export function unreleasedSection(readme: string): string {
  const start = readme.search(/^### Unreleased\s*$/m);
  if (start < 0) return '';
  const rest = readme.slice(start).split('\n').slice(1);
  const end = rest.findIndex((line) => /^#{1,3} /.test(line));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

export async function schemaChanges(released: string, current: string, readme: string): Promise<SchemaChanges> {
  const all = await diff(buildSchema(released), buildSchema(current));
  const breaking = all.filter((change) => change.criticality.level === CriticalityLevel.Breaking);
  const listed = new Set([...unreleasedSection(readme).matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
  const unlisted = breaking.filter((change) => !listed.has(change.path ?? change.message));
  return { all, breaking, unlisted };
}
