/**
 * The request bodies the gate holds at once, in bytes: read, parsed, checked, and kept until the
 * answer has gone (a refusal's audit record, a decision's group commit). Parsed, a body takes many
 * times its size (64 KiB of `[],` is ~1 MB of arrays; a 1 MiB test-result upload 10-20 MB), and
 * nothing else bounds how many are held: a few hundred concurrent requests from one token ran the
 * heap out and killed the process. A request takes its share before its body is read (its
 * Content-Length, or its route's body limit when it has none), and gives it back when its answer
 * is done or its connection closes; one that does not fit is turned away. Each identity may hold
 * only part of the total, so one client filling its own share leaves room for the others (Kargo's
 * decisions are a few hundred bytes each).
 */
export interface BodyBudget {
  /** Takes `bytes` for `who`: the release (idempotent), or null when the total or who's share is full. */
  take(who: string, bytes: number): (() => void) | null;
  /** bytes held now */
  held(): number;
}

export function createBodyBudget(totalBytes: number, perIdentityBytes: number): BodyBudget {
  let held = 0;
  const byIdentity = new Map<string, number>();
  return {
    take(who, bytes) {
      const mine = byIdentity.get(who) ?? 0;
      if (held + bytes > totalBytes || mine + bytes > perIdentityBytes) return null;
      held += bytes;
      byIdentity.set(who, mine + bytes);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held -= bytes;
        const left = (byIdentity.get(who) ?? bytes) - bytes;
        if (left > 0) byIdentity.set(who, left);
        else byIdentity.delete(who);
      };
    },
    held: () => held,
  };
}

/** The bytes a request's body may take: its Content-Length (at most `limit`), `limit` for a body of unknown length, 0 for none. */
export function declaredBodyBytes(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }, limit: number): number {
  const length = headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, limit) : limit;
  }
  return headers['transfer-encoding'] !== undefined ? limit : 0;
}
