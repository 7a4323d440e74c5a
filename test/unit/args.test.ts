import { describe, expect, it } from 'vitest';
import { durationSeconds, isKubernetesName, parseCommandLine, UsageError, type Request } from '../../src/cli/args.ts';

const request = (argv: string[]): Request => {
  const parsed = parseCommandLine(argv);
  if (parsed.help) throw new Error('help');
  return parsed.request;
};
const refusal = (argv: string[]) => {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  return null;
};

describe('parseCommandLine', () => {
  it('answers --help before anything else', () => {
    expect(parseCommandLine(['--help'])).toEqual({ help: true });
    expect(parseCommandLine(['on', '-h'])).toEqual({ help: true });
  });

  it('on: the switch, a message and Retry-After, a cluster target by default, and --wait with its timeout', () => {
    expect(
      request(['on', '--reason', 'db', '--message', 'Back soon', '--retry-after', '60', '--wait', '--timeout', '90s', '-n', 'shop']),
    ).toEqual({
      command: 'on',
      target: { kind: 'cluster', namespace: 'shop' },
      reason: 'db',
      message: 'Back soon',
      retryAfter: '60',
      waitMs: 90_000,
      timeout: '90s',
      bypassSeconds: 8 * 3600,
    });
  });

  it('read-only: takes what on takes, and no window', () => {
    expect(request(['read-only', '--reason', 'migration', '--message', 'Back at 3', '--wait', '-n', 'shop'])).toMatchObject({
      command: 'read-only',
      reason: 'migration',
      message: 'Back at 3',
      waitMs: 120_000,
    });
    expect(request(['read-only', '--local']).target).toEqual({ kind: 'local' });
    expect(refusal(['read-only', '--reason', 'x', '--end', 'none'])).toBe('--start and --end are for schedule; read-only is not a window');
    expect(refusal(['readonly', '--reason', 'x'])).toBe('unknown command: readonly (see --help)');
  });

  it('off: takes no window and no message; it ends a window by itself', () => {
    expect(request(['off', '--reason', 'done']).command).toBe('off');
    expect(refusal(['off', '--reason', 'x', '--start', 'none'])).toBe('--start and --end are for schedule; off is not a window');
    expect(refusal(['off', '--reason', 'x', '--message', 'hi'])).toBe('off takes no --message');
  });

  it('schedule: a bound or both, "none" clears one', () => {
    expect(request(['schedule', '--reason', 'w', '--start', '2030-01-01T00:00:00Z', '--end', 'None'])).toMatchObject({
      start: '2030-01-01T00:00:00Z',
      end: null,
    });
    expect(refusal(['schedule', '--reason', 'w'])).toBe('schedule needs --start and/or --end');
    expect(refusal(['schedule', '--reason', 'w', '--start', 'x', '--wait'])).toBe('schedule takes no --wait');
  });

  it('status and history need no reason; repair and bypass-link do, on a cluster', () => {
    expect(request(['status', '--app', 'shop']).target).toEqual({ kind: 'cluster', app: 'shop' });
    expect(request(['history']).command).toBe('history');
    expect(refusal(['repair'])).toBe('--reason is required: say why; it is recorded with your name');
    expect(refusal(['bypass-link'])).toBe('--reason is required: say why; it is recorded with your name');
  });

  it('bypass-link: --for from 1m to 7d, --url an http(s) address', () => {
    expect(request(['bypass-link', '--reason', 'QA', '--for', '2h', '--url', 'https://shop.example.com/'])).toMatchObject({
      bypassSeconds: 7200,
      url: 'https://shop.example.com/',
    });
    for (const duration of ['8', '8w', '30s', '8d'])
      expect(refusal(['bypass-link', '--reason', 'QA', '--for', duration])).toMatch(/^--for must/);
    expect(refusal(['bypass-link', '--reason', 'QA', '--url', 'javascript:alert(1)'])).toMatch(/^--url must be an http or https address/);
  });

  it('local: --local or --dir, with a default reason, and no cluster option', () => {
    expect(request(['--local', 'on'])).toMatchObject({ target: { kind: 'local' } });
    expect(request(['on', '--dir', '/tmp/x']).target).toEqual({ kind: 'local', dir: '/tmp/x' });
    expect(request(['--local', 'on']).reason).toBeUndefined();
    expect(refusal(['--local', 'on', '--app', 'shop'])).toBe('--app is for a cluster; --local works on a directory');
    expect(refusal(['--local', 'off', '--wait'])).toBe('--wait is for a cluster; --local works on a directory');
  });

  it('refuses a name that is not a Kubernetes name, so it never reaches a selector or a URL', () => {
    expect(refusal(['status', '--app', 'shop,tier=x'])).toBe('--app "shop,tier=x" is not a Kubernetes name');
    expect(refusal(['status', '--service', 'My Service'])).toBe('--service "My Service" is not a Kubernetes name');
    expect(refusal(['status', '--configmap=--server=https://127.0.0.1:9'])).toMatch(/^--configmap .* is not a Kubernetes name$/);
    expect(refusal(['status', '--app', 'a'.repeat(44)])).toMatch(/longer than 43 characters/);
  });

  it('names the option that lacks its value, and the command or option it does not know', () => {
    expect(refusal(['on', '--reason'])).toBe('--reason needs a value (see --help)');
    expect(refusal(['off', '--reason', 'x', '-n'])).toBe('--namespace needs a value (see --help)');
    expect(refusal(['on', '--reason', '--message'])).toBe('--reason needs a value (see --help)');
    expect(refusal(['flip'])).toBe('unknown command: flip (see --help)');
    expect(refusal(['on', '--msg', 'x'])).toBe('unknown option --msg (see --help)');
    expect(refusal(['on', 'off'])).toBe('one command at a time, not on off (see --help)');
    expect(refusal(['on', '--reason', 'x', '--timeout', '2 minutes'])).toBe(
      '--timeout must be a number with s, m, h or d, such as 2m, not "2 minutes"',
    );
    expect(refusal(['on', '--reason', 'x', '--if-version', 'latest'])).toBe('--if-version must be a resourceVersion, such as 4711');
  });
});

describe('durationSeconds and isKubernetesName', () => {
  it('reads 90s, 2m, 8h, 7d and nothing else', () => {
    expect(['90s', '2m', '8h', '7d', '2', '2M', '1.5h', ''].map(durationSeconds)).toEqual([
      90,
      120,
      28_800,
      604_800,
      null,
      null,
      null,
      null,
    ]);
  });

  it('tells labels from subdomains', () => {
    expect(isKubernetesName('shop-maintenance', 'label')).toBe(true);
    expect(isKubernetesName('a.b', 'label')).toBe(false);
    expect(isKubernetesName('a.b', 'subdomain')).toBe(true);
    expect(isKubernetesName('-x', 'subdomain')).toBe(false);
  });
});
