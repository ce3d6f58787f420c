/**
 * ADMIN_EMAILS: the documented way to make the first administrator. An account whose email is
 * listed gets the `admin` role when it logs in (the first log-in after confirming its sign-up,
 * and any later one where it lacks the role), with either provider: the role is granted through
 * the provider's own `setUserRole`, and the session just issued (whose token predates the role)
 * is replaced by a new one that carries it. Taking an email off the list does not demote the
 * account; `setUserRole` does.
 */
import type { IdentityProvider } from './identity.ts';

export function grantAdminByEmail(provider: IdentityProvider, adminEmails: ReadonlySet<string>): IdentityProvider {
  if (adminEmails.size === 0) return provider;
  return {
    ...provider,
    async logIn(email, password) {
      const session = await provider.logIn(email, password);
      if (!adminEmails.has(email.trim().toLowerCase())) return session;
      const identity = await provider.verifyAccessToken(session.accessToken);
      if (identity.roles.includes('admin')) return session;
      await provider.setUserRole(identity.userId, 'admin');
      await provider.logOut(session.accessToken, session.refreshToken);
      return provider.logIn(email, password);
    },
  };
}
