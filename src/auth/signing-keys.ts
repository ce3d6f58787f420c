/**
 * The local provider's RS256 key pair: generated on first start and kept under DATA_DIR so that
 * tokens stay valid across restarts; the public half is served as JWKS.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, importJWK, type JWK, type CryptoKey } from 'jose';

export interface SigningKeys {
  kid: string;
  privateKey: CryptoKey;
  jwks: { keys: JWK[] };
}

export async function loadOrCreateSigningKeys(dataDir: string): Promise<SigningKeys> {
  const file = path.join(dataDir, 'keys', 'jwt-signing-key.json');
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await fs.readFile(file, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateJwk = { ...(await exportJWK(privateKey)), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  return {
    kid: privateJwk.kid!,
    privateKey: (await importJWK(privateJwk, 'RS256')) as CryptoKey,
    jwks: { keys: [publicJwk] },
  };
}
