import { SYSTEM_ACTOR } from '../gate/system-actor.ts';
import { hasInvisible, personKey } from '../policy/person-key.ts';
import { ANONYMOUS } from './identity.ts';

/** The longest user or group name the gate records. */
export const MAX_NAME = 256;
// printable, no control characters and no line or paragraph separator (U+2028, U+2029, which
// break the line on the console): the name ends up in the audit log and on the console
const PRINTABLE = /^[^\p{Cc}\p{Zl}\p{Zp}]+$/u;
// any whitespace at either end (no-break, ideographic, em space...): 'olivia' + U+3000 would read
// as olivia, a different account
const EDGE_SPACE = /^\s|\s$/u;

/**
 * Whether a user or group name reads as what it is, in the audit log, a terminal and the console:
 * not empty, at most MAX_NAME characters, no control character, line or paragraph separator, no
 * whitespace at either end, and nothing invisible (zero-width space, soft hyphen, BOM, a
 * bidirectional override: "olivia" + U+200B would read as olivia). The sign-in proxy's header
 * and a TokenReview's answer are held to it alike.
 */
export function isReadableName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && PRINTABLE.test(name) && !EDGE_SPACE.test(name) && !hasInvisible(name);
}

/**
 * The names the gate's own records use: "anonymous" for callers without a valid identity, "gate"
 * for the gate itself. A caller under one (a local token, the sign-in proxy's user, a
 * TokenReview's user), in any spelling personKey() takes as the same, would read in the audit
 * log and on the console as an unauthenticated caller or as the gate.
 */
export const RESERVED_NAMES: readonly string[] = [ANONYMOUS.name, SYSTEM_ACTOR.name];

/** What the audit log uses RESERVED_NAMES for, as messages say it. */
export const RESERVED_WHAT = "callers without a valid token and the gate's own records";

/** Whether `name` is one of RESERVED_NAMES, as personKey() compares names. */
export function isReservedName(name: string): boolean {
  const key = personKey(name);
  return RESERVED_NAMES.some((reserved) => personKey(reserved) === key);
}
