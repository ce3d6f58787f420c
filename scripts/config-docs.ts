import fs from 'node:fs';
import { withConfigTable } from '../src/config-docs.ts';

fs.writeFileSync('README.md', withConfigTable(fs.readFileSync('README.md', 'utf8')));
console.log('README.md configuration table updated');
