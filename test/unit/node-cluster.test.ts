import { describe, expect, it } from 'vitest';
import { fillConfig } from '../../scripts/lib/node-cluster.ts';

describe('the node cluster configuration files', () => {
  it('fills every placeholder, and the CNI list stays JSON', () => {
    const conflist = fillConfig('pods.conflist', { bridge: 'mscni0', podCidr: '10.244.0.0/24', ipamDir: '/tmp/ipam' });
    expect(conflist).not.toContain('{{');
    const parsed = JSON.parse(conflist) as { plugins: { bridge?: string; ipam?: { ranges: { subnet: string }[][] } }[] };
    expect(parsed.plugins[0]).toMatchObject({ bridge: 'mscni0', ipam: { ranges: [[{ subnet: '10.244.0.0/24' }]] } });
    const kubelet = fillConfig('kubelet.yaml', {
      clientCa: '/pki/ca.crt',
      address: '10.200.0.1',
      healthzPort: 10248,
      containerdSocket: '/run/c.sock',
      syncFrequency: '1m',
      resolvConf: '/k/resolv.conf',
    });
    expect(kubelet).toContain('containerRuntimeEndpoint: unix:///run/c.sock');
    expect(kubelet).not.toContain('{{');
  });

  it('names the placeholder it was given no value for', () => {
    expect(() => fillConfig('pods.conflist', { bridge: 'mscni0', podCidr: '10.244.0.0/24' })).toThrow(
      'pods.conflist needs a value for {{ipamDir}}',
    );
  });
});
