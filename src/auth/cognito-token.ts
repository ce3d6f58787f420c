/**
 * Offline verification of Cognito access tokens with aws-jwt-verify, for both AWS Cognito
 * and cognito-local (whose issuer is not AWS-shaped and whose JWKS is served over plain HTTP).
 */
import { CognitoJwtVerifier, JwtVerifier } from 'aws-jwt-verify';
import { validateCognitoJwtFields } from 'aws-jwt-verify/cognito-verifier';
import { FetchError, JwtBaseError } from 'aws-jwt-verify/error';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { Fetcher } from 'aws-jwt-verify/https';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import type { Role } from './identity.ts';
import { rolesFromGroups } from './roles.ts';
import { unauthenticated } from '../errors.ts';

export interface AccessTokenVerifierOptions {
  userPoolId: string;
  clientId: string;
  /** Set for issuers that are not `https://cognito-idp.<region>.amazonaws.com/<pool>`. */
  issuer?: string;
  /** Defaults to `<issuer>/.well-known/jwks.json`, where Cognito and cognito-local serve it. */
  jwksUri?: string;
}

/** Claims of a verified access token that the provider uses. */
export interface VerifiedAccessToken {
  sub: string;
  roles: Role[];
  /** Epoch seconds. */
  exp: number;
}

export type AccessTokenVerifier = (token: string) => Promise<VerifiedAccessToken>;

export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const { issuer } = options;
  const verify =
    issuer === undefined ? awsVerifier(options) : customIssuerVerifier({ ...options, issuer });
  return async (token) => {
    let payload: JwtPayload;
    try {
      payload = await verify(token);
    } catch (error) {
      // An unreachable JWKS is an outage, not a bad token: let it surface as INTERNAL.
      if (error instanceof JwtBaseError && !(error instanceof FetchError)) {
        throw unauthenticated('Invalid or expired token');
      }
      throw error;
    }
    // aws-jwt-verify checks `exp` only when present; a token that never expires is not ours.
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
      throw unauthenticated('Invalid or expired token');
    }
    return { sub: payload.sub, roles: rolesFromGroups(payload['cognito:groups']), exp: payload.exp };
  };
}

function awsVerifier(options: AccessTokenVerifierOptions) {
  const verifier = CognitoJwtVerifier.create({
    userPoolId: options.userPoolId,
    tokenUse: 'access',
    clientId: options.clientId,
  });
  return (token: string) => verifier.verify(token);
}

function customIssuerVerifier(options: AccessTokenVerifierOptions & { issuer: string }) {
  const verifier = JwtVerifier.create(
    {
      issuer: options.issuer,
      jwksUri: options.jwksUri ?? `${options.issuer}/.well-known/jwks.json`,
      // Cognito access tokens carry `client_id` instead of `aud`.
      audience: null,
      customJwtCheck: ({ payload }) =>
        validateCognitoJwtFields(payload, { tokenUse: 'access', clientId: options.clientId }),
    },
    { jwksCache: new SimpleJwksCache({ fetcher: anyProtocolFetcher }) },
  );
  return (token: string) => verifier.verify(token);
}

/**
 * aws-jwt-verify's own fetcher is built on `https.request` and refuses `http:` URIs, which is
 * all cognito-local serves; Node's fetch speaks both.
 */
const anyProtocolFetcher: Fetcher = {
  async fetch(uri) {
    let response: Response;
    try {
      response = await fetch(uri, { signal: AbortSignal.timeout(5_000) });
    } catch (error) {
      throw new FetchError(uri, error instanceof Error ? error.message : String(error));
    }
    if (!response.ok) throw new FetchError(uri, `Status code is ${response.status}, expected 200`);
    return response.arrayBuffer();
  },
};
