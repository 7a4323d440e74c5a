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
    [{ ROLE: 'boss' }, /^invalid environment: ROLE="boss" must be "user", "admin" or "page"$/],
    [{ PORT: 'abc' }, /^invalid environment: PORT="abc" must be a port number/],
    [{ PORT: '70000' }, /PORT="70000"/],
    [{ SHUTDOWN_DELAY_SECONDS: 'soon' }, /SHUTDOWN_DELAY_SECONDS="soon" must be a number of seconds/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud"/],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadEnv(env)).toThrow(message);
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
