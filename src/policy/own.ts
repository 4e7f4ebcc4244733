/**
 * Lookups in plain-object maps keyed by client input. `map[key]` would find inherited members
 * ("toString", "constructor") and `map[key] = v` with "__proto__" would replace the prototype:
 * image tags like those are valid OCI tags, so every client-keyed access goes through these.
 */
export function getOwn<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

export function setOwn<T>(map: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}
