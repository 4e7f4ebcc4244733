import { BlockList, isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** An address with an IPv4-mapped IPv6 address ("::ffff:10.1.2.3", "::ffff:a01:203") given as its IPv4 one. */
export function unmappedAddress(address: string): string {
  const dotted = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * A BlockList of the given CIDRs (IPv4 or IPv6; a bare address means one host). Throws an Error
 * naming `key` and the entry at fault for anything that is not a CIDR.
 */
export function parseCidrs(cidrs: readonly string[], key: string): BlockList {
  const list = new BlockList();
  for (const raw of cidrs) {
    const entry = raw.trim();
    const [address = '', prefixText, ...rest] = entry.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (family === 0 || rest.length > 0 || !(prefix >= 0 && prefix <= max)) {
      throw new Error(`${key}: "${raw}" is not an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8`);
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** True when `address` (IPv4-mapped IPv6 counts as its IPv4) is in the list. */
export function isInList(list: BlockList, address: string): boolean {
  const plain = unmappedAddress(address);
  const family = isIP(plain);
  if (family === 0) return false;
  return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client's address: the TCP peer, or, when the peer is one of `http.trustedProxies`, the
 * address that proxy appended to X-Forwarded-For (fastify's req.ip, trusting one hop: what stands
 * further left was written by the client itself). Anything in that place that is not an IP
 * address falls back to the TCP peer, so junk passed on never becomes a client's name.
 */
export function clientAddress(req: Pick<FastifyRequest, 'ip' | 'socket'>): string | null {
  const peer = req.socket?.remoteAddress ?? null;
  const ip = req.ip;
  if (typeof ip === 'string' && ip !== peer && isIP(unmappedAddress(ip)) !== 0) return ip;
  return peer;
}
