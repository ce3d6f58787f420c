import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './node.ts';
import './user.ts';
import './file.ts';
import './message.ts';
import './folder.ts';
import './conversation.ts';
import './share.ts';
import './search.ts';
import './generation.ts';
import './usage.ts';
import './api-key.ts';

/** The schema, sorted so that the printed SDL is stable however the modules are ordered. */
export const schema = lexicographicSortSchema(builder.toSchema());
