/**
 * API keys for the OpenAI-compatible `/v1` routes: made, listed and revoked by their user
 * through GraphQL, each acting as that user (role, rate limits, quota) on `/v1` only. GraphQL
 * itself refuses them: a leaked key cannot create keys or change a password.
 */
import { badInput, notFound, unauthenticated } from '../errors.ts';
import type { ApiKeyRecord, ApiKeyRepository } from '../store/api-keys.ts';
import { isId } from '../store/ids.ts';
import type { UserRepository } from '../store/users.ts';
import type { Identity } from './identity.ts';

export const MAX_API_KEYS = 50;
const MAX_NAME_LENGTH = 100;

export class ApiKeyService {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly users: Pick<UserRepository, 'getById'>,
  ) {}

  async create(userId: string, name: string, expiresAt?: Date | null): Promise<{ key: string; record: ApiKeyRecord }> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH) throw badInput(`name must be 1 to ${MAX_NAME_LENGTH} characters`, { argument: 'name' });
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw badInput('expiresAt must be in the future', { argument: 'expiresAt' });
    if ((await this.keys.list(userId)).length >= MAX_API_KEYS) throw badInput(`At most ${MAX_API_KEYS} API keys; revoke one first`, { argument: 'name' });
    return this.keys.create(userId, { name: trimmed, expiresAt: expiresAt?.toISOString() });
  }

  /** The user's keys, oldest first (never their secrets). */
  list(userId: string): Promise<ApiKeyRecord[]> {
    return this.keys.list(userId);
  }

  async revoke(userId: string, keyId: string): Promise<void> {
    if (!isId(keyId) || !(await this.keys.revoke(userId, keyId))) throw notFound('API key');
  }

  /** The identity a key acts as; UNAUTHENTICATED for a wrong, revoked or expired key, or a disabled account. */
  async authenticate(key: string): Promise<Identity> {
    const record = await this.keys.find(key);
    if (!record) throw unauthenticated('Invalid API key');
    const expires = record.expiresAt ? Date.parse(record.expiresAt) : undefined;
    if (expires !== undefined && expires <= Date.now()) throw unauthenticated('This API key has expired');
    const user = await this.users.getById(record.userId);
    if (!user || user.status !== 'CONFIRMED') throw unauthenticated('Invalid API key');
    await this.keys.touch(record);
    // A key lives until revoked or expired; the identity's own expiry only bounds long connections.
    return { userId: user.userId, email: user.email, roles: [user.role], expiresAt: Math.floor((expires ?? Date.now() + 3_600_000) / 1000) };
  }
}
