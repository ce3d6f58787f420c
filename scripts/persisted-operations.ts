/**
 * Run by codegen after it writes: replaces the client preset's src/generated/persisted-documents.json
 * with schema/persisted-operations.json, the manifest the server reads (PERSISTED_OPERATIONS) and
 * that sits beside the operations it lists (scripts/persisted-manifest.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MANIFEST_FILE, manifestText, PRESET_FILE } from './persisted-manifest.ts';

const root = path.resolve(import.meta.dirname, '..');
const written = path.join(root, PRESET_FILE);
if (fs.existsSync(written)) {
  fs.writeFileSync(path.join(root, MANIFEST_FILE), manifestText(JSON.parse(fs.readFileSync(written, 'utf8')) as Record<string, string>));
  fs.rmSync(written);
}
