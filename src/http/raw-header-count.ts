/**
 * How many times header `name` (lower case) came in a request's raw header lines (Node's
 * `rawHeaders`: name, value, name, value...). `headers` keeps one of a repeated Authorization and
 * joins a repeated custom header into one string: only the raw lines tell a repetition.
 */
export function rawHeaderCount(rawHeaders: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const h = rawHeaders[i];
    if (h !== undefined && h.length === name.length && h.toLowerCase() === name) n += 1;
  }
  return n;
}
