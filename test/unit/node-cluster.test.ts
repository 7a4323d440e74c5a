import { loadYaml } from '@kubernetes/client-node';
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
      tlsCert: '/pki/kubelet-serving.crt',
      tlsKey: '/pki/kubelet-serving.key',
    });
    expect(loadYaml(kubelet)).toMatchObject({
      kind: 'KubeletConfiguration',
      authentication: { x509: { clientCAFile: '/pki/ca.crt' } },
      address: '10.200.0.1',
      healthzPort: 10248,
      containerRuntimeEndpoint: 'unix:///run/c.sock',
      syncFrequency: '1m',
      resolvConf: '/k/resolv.conf',
      tlsCertFile: '/pki/kubelet-serving.crt',
      tlsPrivateKeyFile: '/pki/kubelet-serving.key',
    });
    const kubeconfig = fillConfig('kubeconfig.yaml', {
      server: 'https://10.200.0.1:6443',
      caData: 'Q0E=',
      certData: 'Q0VSVA==',
      keyData: 'S0VZ',
    });
    expect(loadYaml(kubeconfig)).toMatchObject({
      clusters: [{ cluster: { server: 'https://10.200.0.1:6443', 'certificate-authority-data': 'Q0E=' } }],
      users: [{ user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' } }],
    });
    const containerd = fillConfig('containerd.toml', {
      root: '/c/root',
      state: '/c/state',
      socket: '/c/containerd.sock',
      sandboxImage: 'pause:local',
      cniConfDir: '/c/net.d',
      opt: '/c/opt',
    });
    expect(containerd).toContain('[grpc]\n  address = "/c/containerd.sock"');
    expect(containerd).toContain('conf_dir = "/c/net.d"');
  });

  it('names the placeholder it was given no value for', () => {
    expect(() => fillConfig('pods.conflist', { bridge: 'mscni0', podCidr: '10.244.0.0/24' })).toThrow(
      'pods.conflist needs a value for {{ipamDir}}',
    );
  });
});
