import { describe, expect, it } from 'vitest';
import { CidrList, clientKey } from '../../src/cidr.ts';

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

describe('clientKey', () => {
  it('counts an IPv4 client by its address, and an IPv6 client by its /64', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
  });
});
