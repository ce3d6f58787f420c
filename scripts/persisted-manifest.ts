/**
 * schema/persisted-operations.json from what codegen's client preset writes as
 * persisted-documents.json: keyed by the bare hex digest, as clients send it (`documentId`, APQ's
 * `sha256Hash`), sorted so that a change shows as a small diff. The preset hashes each document
 * as it writes it: SHA-256 of exactly the text listed.
 */
export const MANIFEST_FILE = 'schema/persisted-operations.json';
/** Where the client preset writes its documents (and the hook picks them up). */
export const PRESET_FILE = 'src/generated/persisted-documents.json';

export function manifestText(presetDocuments: Record<string, string>): string {
  const entries = Object.entries(presetDocuments)
    .map(([hash, document]) => [hash.replace(/^sha256:/, ''), document] as const)
    .sort(([a], [b]) => a.localeCompare(b));
  return `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
}
