/** The roles one image runs in. A leaf of its own, so the environment schema can use it without loading the HTTP app. */
export const ROLES = ['user', 'admin', 'page', 'gate'] as const;
export type Role = (typeof ROLES)[number];
