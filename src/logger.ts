import { redactTokens, redactTokensInPath } from './auth/redact-tokens.ts';
import pino, { type Logger } from 'pino';

const SECRET_PARAM = /token|secret|password|auth|key/i;

/** A request URL safe to log: values of credential-looking query parameters are replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return redactTokensInPath(url);
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) if (SECRET_PARAM.test(key)) params.set(key, '[redacted]');
  const rest = params.toString();
  const path = redactTokensInPath(url.slice(0, q));
  return rest ? `${path}?${redactTokens(rest)}` : path;
}

/**
 * The gate's JSON logger: request ids, no secrets (Authorization, tokens and cookies are
 * redacted). By default it writes to stdout through an asynchronous buffer (pino.destination
 * with sync: false), so a log line never blocks an answer; flushLogger() drains it on shutdown.
 * The audit log, not this log, is the durable record.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false }),
  /** more request headers that carry a secret (lower case): the authenticating proxy's, proxyAuth.secretHeader */
  secretHeaders: readonly string[] = [],
): Logger {
  const extra = secretHeaders.flatMap((h) => [`req.headers[${JSON.stringify(h)}]`, `headers[${JSON.stringify(h)}]`]);
  return pino(
    {
      level,
      base: { service: 'stonks-gate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        // explicit paths (no wildcards: they cost on every line); the request serialiser below
        // never includes headers or bodies, and the gate logs no token anywhere else
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'token', 'breakGlassToken', 'body.token', 'body.breakGlassToken', ...extra],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { id: string; method: string; url: string; socket?: { remoteAddress?: string } }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.url),
          remoteAddress: req.socket?.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}

/** Writes out what the logger still buffers (at shutdown). */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
