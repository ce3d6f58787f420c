/**
 * Relay global ids: every object with an identity (the `Node` interface) has an id that says its
 * type, base64 of `Type:id` (Pothos relay's encoding). Arguments take them, and, for clients
 * that kept ids from before they existed, the bare ids too; an id of another type is NOT_FOUND.
 */
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { notFound } from '../errors.ts';

export const NODE_TYPES = ['ApiKey', 'Conversation', 'Folder', 'Generation', 'Message', 'Share', 'StoredFile', 'User'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export const globalId = (type: NodeType, id: string): string => encodeGlobalID(type, id);

/** The type and bare id a global id names; undefined for anything else (a bare id, a made-up string). */
export function parseGlobalId(value: string): { type: NodeType; id: string } | undefined {
  try {
    const { typename, id } = decodeGlobalID(value);
    return (NODE_TYPES as readonly string[]).includes(typename) ? { type: typename as NodeType, id } : undefined;
  } catch {
    return undefined;
  }
}

/** What NOT_FOUND calls each type ("File not found"), as the services do. */
const SHOWN_AS: Record<NodeType, string> = { ApiKey: 'API key', Conversation: 'Conversation', Folder: 'Folder', Generation: 'Generation', Message: 'Message', Share: 'Share', StoredFile: 'File', User: 'User' };

/** The bare id an argument names, given the type it must be. */
export function rawId(type: NodeType, value: string | number): string {
  const text = String(value);
  const parsed = parseGlobalId(text);
  if (!parsed) return text;
  if (parsed.type !== type) throw notFound(SHOWN_AS[type]);
  return parsed.id;
}

export const rawIds = (type: NodeType, values: readonly (string | number)[]) => values.map((value) => rawId(type, value));

export const nodeNotFound = (type: NodeType) => notFound(SHOWN_AS[type]);
