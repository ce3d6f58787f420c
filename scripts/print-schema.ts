/** Writes schema/schema.graphql from the code-first schema (checked in; a test keeps it fresh). */
import fs from 'node:fs';
import { printSchemaFile, SCHEMA_FILE } from '../src/schema/print.ts';

fs.writeFileSync(SCHEMA_FILE, printSchemaFile());
console.log(`wrote ${SCHEMA_FILE}`);
