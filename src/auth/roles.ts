import { ROLES, type Role } from './identity.ts';

/** Roles from a token's groups claim; unknown groups are ignored, none means `users`. */
export function rolesFromGroups(groups: unknown): Role[] {
  const roles = Array.isArray(groups) ? groups.filter((g): g is Role => (ROLES as readonly unknown[]).includes(g)) : [];
  return roles.length > 0 ? roles : ['users'];
}

export const isAdmin = (roles: readonly Role[]) => roles.includes('admin');

/** The role whose limits apply to a user with these roles: the most generous one. */
export function limitTier(roles: readonly Role[]): Role {
  return roles.includes('admin') ? 'admin' : roles.includes('premium') ? 'premium' : 'users';
}
