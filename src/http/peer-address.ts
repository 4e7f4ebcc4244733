/** A socket peer address with an IPv4-mapped IPv6 address ("::ffff:10.1.2.3") given as its IPv4 one. */
export function unmappedAddress(address: string): string {
  return /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1] ?? address;
}
