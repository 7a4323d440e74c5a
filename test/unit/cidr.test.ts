import { describe, expect, it } from 'vitest';
import { CidrList } from '../../src/cidr.ts';

describe('CidrList', () => {
  it.each([
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['11.0.0.1', false],
    ['fd00::1', true],
    ['fe80::1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['not-an-ip', false],
  ])('10.0.0.0/8, fd00::/8, 192.168.1.7 contains %s: %s', (address, expected) => {
    expect(new CidrList(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']).has(address)).toBe(expected);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/x'])('refuses %j', (cidr) => {
    expect(() => new CidrList([cidr])).toThrow(cidr);
  });
});
