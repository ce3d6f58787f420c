/**
 * Run by codegen after it writes: moves the client preset's src/generated/persisted-documents.json
 * to schema/persisted-operations.json, the manifest the server reads (PERSISTED_OPERATIONS) and
 * that sits beside the operations it lists, sorted so that a change shows as a small diff. The
 * preset hashes each document as it writes it: SHA-256 of exactly the text listed.
 */
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const written = path.join(root, 'src/generated/persisted-documents.json');
if (fs.existsSync(written)) {
  const documents = JSON.parse(fs.readFileSync(written, 'utf8')) as Record<string, string>;
  // Keyed by the bare hex digest, as clients send it (`documentId`, APQ's `sha256Hash`).
  const sorted = Object.fromEntries(
    Object.entries(documents)
      .map(([hash, document]) => [hash.replace(/^sha256:/, ''), document] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  fs.writeFileSync(path.join(root, 'schema/persisted-operations.json'), `${JSON.stringify(sorted, null, 2)}\n`);
  fs.rmSync(written);
}
