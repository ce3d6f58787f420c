import fs from 'node:fs';
import { withGeneratedTables } from '../src/config-docs.ts';

fs.writeFileSync('README.md', withGeneratedTables(fs.readFileSync('README.md', 'utf8')));
console.log('README.md configuration and security tables updated');
