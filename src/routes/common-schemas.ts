import { hasNoToken } from '../auth/redact-tokens.ts';
import { firstUnsafeCharacter } from '../unsafe-characters.ts';
import { z } from 'zod';

/**
 * Free text a client sends (justifications, notes, the actor, a test run's error) is recorded for
 * good and shown on the public /v1/status and the console: a token pasted into it is refused
 * (recordedText), not published.
 */
export const TOKEN_IN_TEXT = 'contains what looks like a gate token (gate_… or gbg_…) or a JWT (eyJ….eyJ….…): tokens are never written into text, which is recorded and shown';

/**
 * Characters that show nothing: controls, format characters (zero-width space and joiners, the
 * BOM, bidirectional marks), the rest of Unicode's default-ignorable ones (variation selectors,
 * the combining grapheme joiner, Hangul fillers: marks and letters outside Cf that render as
 * nothing) and the blank Braille cell. Combining marks that show (Indic vowel signs, viramas,
 * Arabic harakat) are not among them: they count.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/** The zod check of free text for UNSAFE characters: the message names the first and why. */
function noUnsafeCharacters(text: string, ctx: z.RefinementCtx): void {
  const found = firstUnsafeCharacter(text);
  if (found) {
    ctx.addIssue({
      code: 'custom',
      message: `must not hold control characters or bidirectional overrides (${found}): the text is recorded and shown, and they can hide or reorder what it says in a terminal or the console`,
    });
  }
}

/**
 * `text`, a string schema of free text the gate records and shows, with the checks every such
 * text gets: no control character or bidirectional override (noUnsafeCharacters), then no token.
 */
export function recordedText<S extends z.ZodString>(text: S): S {
  return text.superRefine(noUnsafeCharacters).refine(hasNoToken, TOKEN_IN_TEXT);
}

/** How many characters of `text` show, once the invisible ones are gone and the ends trimmed. */
export function visibleLength(text: string): number {
  return [...text.replace(INVISIBLE, '').trim()].length;
}

/**
 * Free text a person must write for the record (a break-glass justification, approval notes, a
 * stage toggle's note): at least `min` characters that show (twenty zero-width spaces say
 * nothing), at most `max`, no control character or bidirectional override (UNSAFE), and no token.
 */
export function statement(min: number, max: number, why: string) {
  return recordedText(
    z
      .string()
      .trim()
      .min(min, `must be at least ${min} characters: ${why}`)
      .max(max, `must be at most ${max} characters`)
      .refine((text) => visibleLength(text) >= min, `must be at least ${min} characters that show (invisible ones do not count): ${why}`),
  );
}

/** An OCI image tag (the Git SHA in this pipeline). */
export const OciTag = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, 'must be a valid OCI tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}')
  // a pasted gate or break-glass token is a valid tag: it would be recorded, logged and stored
  .refine(hasNoToken, 'looks like a gate token (gate_… or gbg_…) or a JWT, not an image tag: tokens go only in the Authorization header or breakGlassToken');

/** A Kubernetes-style name (project, stage, promotion, freight). */
export const KubeName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase Kubernetes name');

export const ErrorSchema = z
  .object({
    error: z.string().describe('machine-readable code'),
    message: z.string().describe('what went wrong, for humans'),
    field: z.string().optional().describe('the request field at fault, e.g. body.imageTag'),
  })
  .catchall(z.unknown());

export const ReasonSchema = z.object({
  code: z.string(),
  message: z.string(),
  effect: z.enum(['allow', 'wait', 'deny']),
});

export const SessionJson = z.object({ date: z.string(), open: z.string(), close: z.string(), earlyClose: z.boolean() });

export const MarketJson = z.object({
  at: z.string(),
  open: z.boolean(),
  reason: z.enum(['open', 'pre_open', 'after_close', 'early_close', 'weekend', 'holiday', 'closure']),
  holiday: z.string().nullable(),
  session: SessionJson.nullable(),
  nextOpen: z.string(),
  nextClose: z.string(),
});

/** Error responses every authenticated route can give. */
export const authErrors = { 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema } as const;

/**
 * The query string of a route that takes none. A parameter sent anyway is a 400 naming it, as an
 * unknown body field is: `GET /v1/break-glass?stage=paper` would otherwise list every grant as if
 * filtered, and `DELETE /v1/break-glass/{id}?dryRun=true` would revoke for real.
 */
export const NoQuery = z.strictObject({});

/** An ISO-8601 instant with an offset (e.g. 2026-11-27T17:59:59Z). */
export const IsoInstant = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 instant with offset, e.g. 2026-11-27T17:59:59Z' });
