import { apiErrorSchema, ROUTES, type AdminRoute } from '../../src/http/admin/contract.ts';

/** The admin API routes whose answers the tests have checked against the contract, for the contract test. */
export const checkedRoutes = new Set<string>();

/**
 * Checks an answer of the admin API against its contract (src/http/admin/contract.ts): a success
 * with the route's status and exactly its schema (no field missing, none undocumented), an error
 * as ApiError. Throws, naming the route and the mismatch; other paths pass untouched.
 */
export async function checkContract(method: string, url: string, response: Response): Promise<Response> {
  const path = new URL(url, 'http://localhost').pathname;
  if (!path.startsWith('/admin/api/') && path !== '/admin/session') return response;
  const route = `${method.toUpperCase()} ${path}`;
  if (!(route in ROUTES)) {
    if (response.status === 404 || response.status === 405) return response;
    throw new Error(`${route} answered ${response.status} but is not in the contract (src/http/admin/contract.ts)`);
  }
  const contract = ROUTES[route as AdminRoute];
  const json = (response.headers.get('content-type') ?? '').includes('application/json');
  if (response.status >= 400) {
    if (!json) return response;
    const parsed = apiErrorSchema.safeParse(await response.clone().json());
    if (!parsed.success)
      throw new Error(`${route} answered ${response.status} with an error that is not an ApiError: ${parsed.error.message}`);
    return response;
  }
  if (response.status !== contract.status) throw new Error(`${route} answered ${response.status}; the contract says ${contract.status}`);
  if (contract.schema !== null) {
    const parsed = contract.schema.safeParse(await response.clone().json());
    if (!parsed.success) throw new Error(`${route} answered what its schema does not describe: ${parsed.error.message}`);
  }
  checkedRoutes.add(route);
  return response;
}

/** fetch, with every admin API answer checked against the contract. */
export async function checkedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const url = String(input);
  return checkContract(init.method ?? 'GET', url, await fetch(url, init));
}
