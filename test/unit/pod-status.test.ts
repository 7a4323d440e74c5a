import { describe, expect, it } from 'vitest';
import { parseConfig, type MaintenanceConfig } from '../../src/config/parse.ts';
import type { FleetEndpoint } from '../../src/fleet/fleet.ts';
import { appliesConfig, podsBehind, podsUnprobed } from '../../src/fleet/pod-status.ts';

function config(data: Record<string, string>): MaintenanceConfig {
  const result = parseConfig(data);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

const on = config({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back at noon' });
const off = config({ MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'Back at noon' });
/** What a pod's /status says under `config` once it went through JSON, as the admin reads it. */
const statusOf = (applied: MaintenanceConfig) =>
  JSON.parse(JSON.stringify({ maintenance: applied.enabled, config: { ...shown(applied), addedLater: 1 } })) as Record<string, unknown>;
const shown = (applied: MaintenanceConfig) => ({
  enabled: applied.enabled,
  mode: applied.enabled ? 'on' : applied.readOnly ? 'read-only' : 'off',
  message: applied.message,
  retryAfterSeconds: applied.retryAfterSeconds,
  start: null,
  end: null,
  allowPaths: applied.allowPaths,
  graphqlPaths: applied.graphqlPaths,
  page: 'default',
});

describe('appliesConfig', () => {
  it('compares every field the pod shows, ignoring fields it adds', () => {
    expect(appliesConfig(statusOf(on), on)).toBe(true);
    expect(appliesConfig(statusOf(off), on)).toBe(false);
    expect(appliesConfig(statusOf(config({ MAINTENANCE_MODE: 'read-only', MAINTENANCE_MESSAGE: 'Back at noon' })), off)).toBe(false);
    expect(appliesConfig(statusOf(config({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back at one' })), on)).toBe(false);
  });

  it('cannot say for a status without a config', () => {
    expect(appliesConfig(null, on)).toBeNull();
    expect(appliesConfig({ maintenance: true }, on)).toBeNull();
    expect(appliesConfig({ config: null }, on)).toBeNull();
  });
});

describe('podsBehind', () => {
  const endpoint = (pod: string, port: number | null = 9901): FleetEndpoint => ({
    pod,
    address: `10.0.0.${pod.length}`,
    port,
    state: 'serving',
    servicePod: true,
  });

  it('asks each pod, and takes one that does not answer at its endpoint', async () => {
    const asked: string[] = [];
    const answers: Record<string, Record<string, unknown> | null> = {
      'web-1': statusOf(on),
      'web-22': statusOf(off),
      'web-333': null,
    };
    const byAddress = new Map(Object.keys(answers).map((pod) => [`10.0.0.${pod.length}`, pod]));
    const behind = await podsBehind(['web-1', 'web-22', 'web-333', 'web-4444', 'gone'], {
      expected: on,
      endpoints: [endpoint('web-1'), endpoint('web-22'), endpoint('web-333'), endpoint('web-4444', null)],
      // The fleet view says web-333 still serves: behind. web-4444 has no port to ask, and the
      // fleet view does not name it: followed, as far as anyone can tell.
      lagging: ['web-333', 'web-22'],
      read: async (address, port) => {
        asked.push(`${address}:${port}`);
        return answers[byAddress.get(address)!] ?? null;
      },
    });
    expect(behind).toEqual(['web-22', 'web-333']);
    expect(asked.sort()).toEqual(['10.0.0.5:9901', '10.0.0.6:9901', '10.0.0.7:9901']);
  });

  it('trusts a pod that says it follows over an endpoint not updated yet', async () => {
    expect(
      await podsBehind(['web-1'], { expected: on, endpoints: [endpoint('web-1')], lagging: ['web-1'], read: async () => statusOf(on) }),
    ).toEqual([]);
  });

  it('finds nobody behind before the admin has a config', async () => {
    expect(await podsBehind(['web-1'], { expected: null, endpoints: [endpoint('web-1')], lagging: ['web-1'] })).toEqual([]);
  });
});

describe('podsUnprobed', () => {
  const endpoint = (pod: string): FleetEndpoint => ({
    pod,
    address: `10.0.0.${pod.length}`,
    port: 9901,
    state: 'serving',
    servicePod: true,
  });

  it('names the pods that apply the config and say they are ready while their endpoint is not serving', async () => {
    const answers: Record<string, Record<string, unknown>> = {
      'web-1': { ...statusOf(off), ready: true },
      'web-22': { ...statusOf(off), ready: false },
      'web-333': { ...statusOf(on), ready: true },
      'web-4444': { ...statusOf(off), ready: true },
    };
    const byAddress = new Map(Object.keys(answers).map((pod) => [`10.0.0.${pod.length}`, pod]));
    const asked: string[] = [];
    const unprobed = await podsUnprobed(Object.keys(answers), {
      expected: off,
      endpoints: Object.keys(answers).map(endpoint),
      // web-4444's endpoint already serves: nothing to probe.
      notServing: ['web-1', 'web-22', 'web-333'],
      read: async (address) => {
        asked.push(byAddress.get(address)!);
        return answers[byAddress.get(address)!] ?? null;
      },
    });
    expect(unprobed).toEqual(['web-1']);
    expect(asked.sort()).toEqual(['web-1', 'web-22', 'web-333']);
  });
});
