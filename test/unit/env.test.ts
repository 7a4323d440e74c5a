import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../src/env.ts';
import { chooseSource } from '../../src/config/source.ts';

describe('loadEnv', () => {
  it('applies the documented defaults', () => {
    const env = loadEnv({ POD_NAME: 'p' });
    expect(env).toMatchObject({
      ROLE: 'user',
      PORT: 8080,
      HOST: '0.0.0.0',
      CONFIG_DIR: '/etc/app-config',
      POD_NAME: 'p',
      SHUTDOWN_DELAY_SECONDS: 5,
      LOG_LEVEL: 'info',
    });
  });

  it.each([
    [{ ROLE: 'boss' }, /^invalid environment: ROLE="boss" must be "user", "admin", "page" or "gate"$/],
    [{ PORT: 'abc' }, /^invalid environment: PORT="abc" must be a port number/],
    [{ PORT: '70000' }, /PORT="70000"/],
    [{ SHUTDOWN_DELAY_SECONDS: 'soon' }, /SHUTDOWN_DELAY_SECONDS="soon" must be a number of seconds/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud"/],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadEnv(env)).toThrow(message);
  });

  it("derives the install's object names from APP_NAME; a name set explicitly wins; without an app, the demo's", () => {
    expect(loadEnv({ APP_NAME: 'shop' })).toMatchObject({
      CONFIGMAP_NAME: 'shop-maintenance',
      BYPASS_KEY_SECRET: 'shop-maintenance-bypass-key',
      NUDGE_SERVICE: 'shop-maintenance-pods',
    });
    expect(loadEnv({ APP_NAME: 'sample-app', CONFIGMAP_NAME: 'app-config' })).toMatchObject({
      CONFIGMAP_NAME: 'app-config',
      BYPASS_KEY_SECRET: 'sample-app-maintenance-bypass-key',
    });
    expect(loadEnv({})).toMatchObject({
      APP_NAME: 'none',
      CONFIGMAP_NAME: 'app-config',
      BYPASS_KEY_SECRET: 'maintenance-bypass-key',
      NUDGE_SERVICE: 'none',
    });
    expect(() => loadEnv({ APP_NAME: 'Shop' })).toThrow(/APP_NAME="Shop" must be a lowercase DNS name/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadEnv({ ROLE: '', PORT: '' })).toMatchObject({ ROLE: 'user', PORT: 8080 });
  });
});

describe('chooseSource', () => {
  it('follows CONFIG_SOURCE when it is explicit', () => {
    expect(chooseSource({ CONFIG_SOURCE: 'api', CONFIG_DIR: '/' }, false)).toBe('api');
    expect(chooseSource({ CONFIG_SOURCE: 'volume', CONFIG_DIR: '/no/such/dir' }, true)).toBe('volume');
  });

  it('in auto mode takes the volume when the directory exists, else the API when there are credentials', () => {
    expect(chooseSource({ CONFIG_SOURCE: 'auto', CONFIG_DIR: '/' }, true)).toBe('volume');
    expect(chooseSource({ CONFIG_SOURCE: 'auto', CONFIG_DIR: '/no/such/dir' }, true)).toBe('api');
    expect(chooseSource({ CONFIG_SOURCE: 'auto', CONFIG_DIR: '/no/such/dir' }, false)).toBe('volume');
  });
});

describe('HTTP server settings', () => {
  it('default to a keep-alive above common load balancers, headers above it, and a connection cap', () => {
    expect(loadEnv({})).toMatchObject({
      HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: 65,
      HTTP_HEADERS_TIMEOUT_SECONDS: 66,
      HTTP_REQUEST_TIMEOUT_SECONDS: 120,
      MAX_CONNECTIONS: 1000,
      TRUSTED_PROXY_CIDRS: [],
      ADMIN_MAX_BODY_BYTES: 16384,
      ADMIN_AUTH_ATTEMPTS_PER_MINUTE: 30,
    });
  });

  it('refuses headers at or below keep-alive, and a request timeout below headers, naming the variable', () => {
    expect(() => loadEnv({ HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '70' })).toThrow(
      'invalid environment: HTTP_HEADERS_TIMEOUT_SECONDS must be greater than HTTP_KEEP_ALIVE_TIMEOUT_SECONDS (70)',
    );
    expect(() => loadEnv({ HTTP_REQUEST_TIMEOUT_SECONDS: '10' })).toThrow(
      'invalid environment: HTTP_REQUEST_TIMEOUT_SECONDS="10" must be at least HTTP_HEADERS_TIMEOUT_SECONDS (66)',
    );
    expect(() => loadEnv({ MAX_CONNECTIONS: '0' })).toThrow('MAX_CONNECTIONS="0" must be at least 1');
    expect(() => loadEnv({ TRUSTED_PROXY_CIDRS: '10.0.0.0/8, nonsense' })).toThrow(
      /TRUSTED_PROXY_CIDRS="10.0.0.0\/8, nonsense" must be comma-separated IP addresses or CIDRs/,
    );
    expect(loadEnv({ TRUSTED_PROXY_CIDRS: '10.0.0.0/8, fd00::/8' }).TRUSTED_PROXY_CIDRS).toEqual(['10.0.0.0/8', 'fd00::/8']);
  });
});

describe('the fleet', () => {
  it('has no Service of its own by default: none is named for a demo', () => {
    expect(loadEnv({ ROLE: 'admin', HOST: '127.0.0.1' }).FLEET_SERVICE).toBe('none');
    expect(loadEnv({ ROLE: 'page' }).FLEET_SERVICE).toBe('none');
  });

  it("refuses a page tier in a cluster that is not told its app's Service", () => {
    expect(() => loadEnv({ ROLE: 'page', KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toThrow(
      "invalid environment: FLEET_SERVICE is required for ROLE=page: the name of your app's Service, whose endpoints say when to show the page",
    );
    expect(loadEnv({ ROLE: 'page', KUBERNETES_SERVICE_HOST: '10.96.0.1', FLEET_SERVICE: 'web' }).FLEET_SERVICE).toBe('web');
  });
});

describe('GATE_MODE', () => {
  it('is sidecar by default, and readiness-gate for the admin and page tiers only', () => {
    expect(loadEnv({ ROLE: 'page' }).GATE_MODE).toBe('sidecar');
    expect(loadEnv({ ROLE: 'page', GATE_MODE: 'readiness-gate' }).GATE_MODE).toBe('readiness-gate');
    expect(() => loadEnv({ ROLE: 'gate', GATE_MODE: 'readiness-gate' })).toThrow(
      'GATE_MODE="readiness-gate" is for the admin and page tiers',
    );
    expect(() => loadEnv({ ROLE: 'page', GATE_MODE: 'gates' })).toThrow('GATE_MODE="gates" must be "sidecar" or "readiness-gate"');
  });

  it('refuses FLEET_STATUS_PORT beside it: no gate answers on your pods', () => {
    expect(() => loadEnv({ ROLE: 'page', GATE_MODE: 'readiness-gate', FLEET_STATUS_PORT: '9901' })).toThrow(
      'FLEET_STATUS_PORT="9901" is not for GATE_MODE=readiness-gate',
    );
  });
});

describe('gate settings', () => {
  it('takes an upstream, its readiness path and timeouts for ROLE=gate', () => {
    const env = loadEnv({ ROLE: 'gate', PORT: '9901', UPSTREAM: 'http://127.0.0.1:8080', UPSTREAM_READY_PATH: '/healthz' });
    expect(env).toMatchObject({
      PROXY_PORT: 9900,
      UPSTREAM_READY_INTERVAL_SECONDS: 2,
      UPSTREAM_CONNECT_TIMEOUT_SECONDS: 5,
      UPSTREAM_RESPONSE_TIMEOUT_SECONDS: 60,
    });
    expect(env.UPSTREAM?.host).toBe('127.0.0.1:8080');
  });

  it('reads an empty UPSTREAM_READY_PATH as none, as the install writes it when your app has no readiness path', () => {
    const env = loadEnv({ ROLE: 'gate', PORT: '9901', UPSTREAM: 'http://127.0.0.1:8080', UPSTREAM_READY_PATH: ' ' });
    expect(env.UPSTREAM_READY_PATH).toBeUndefined();
  });

  it.each([
    [{ ROLE: 'gate', UPSTREAM: 'https://127.0.0.1:8080' }, /UPSTREAM="https:\/\/127.0.0.1:8080" must be http:\/\/HOST:PORT/],
    [{ ROLE: 'gate', UPSTREAM: 'http://127.0.0.1:8080/app' }, /UPSTREAM=.* with no path/],
    [{ ROLE: 'user', UPSTREAM: 'http://127.0.0.1:8080' }, /UPSTREAM=.* is for ROLE=gate only, not user/],
    [{ ROLE: 'gate', UPSTREAM_READY_PATH: '/healthz' }, /UPSTREAM_READY_PATH="\/healthz" needs UPSTREAM/],
    [
      { ROLE: 'gate', UPSTREAM: 'http://127.0.0.1:8080', UPSTREAM_READY_PATH: 'healthz' },
      /UPSTREAM_READY_PATH="healthz" must be a path starting with \//,
    ],
    [{ ROLE: 'gate', UPSTREAM: 'http://127.0.0.1:8080', PORT: '9900' }, /PROXY_PORT must differ from PORT \(9900\)/],
    [{ MAINTENANCE_BYPASS_CIDRS: '10.0.0.0/8, office' }, /MAINTENANCE_BYPASS_CIDRS="10.0.0.0\/8, office" must be comma-separated/],
    [{ BYPASS_COOKIE_SECURE: 'yes' }, /BYPASS_COOKIE_SECURE="yes" must be "true" or "false"/],
    [{ UPSTREAM_RESPONSE_TIMEOUT_SECONDS: '0' }, /UPSTREAM_RESPONSE_TIMEOUT_SECONDS="0" must be at least 0.1 seconds/],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadEnv(env)).toThrow(message);
  });
});
