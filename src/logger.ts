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
 * Log lines to file descriptor `fd` (stdout) through an asynchronous buffer (pino.destination
 * with sync: false), so a log line never blocks an answer. A descriptor that can no longer be
 * written ends the log, not the gate: once the terminal of `npm start` is closed every write is
 * EIO, and pino passes over only EPIPE so. Any other write error was an uncaught exception
 * (during a stop: exit 1 at once, the data directory lock left behind), and at the exit pino's
 * last flush retried the write every 100 ms for ever, so the gate hung holding its lock. The
 * audit log, not this log, is the durable record.
 */
function logDestination(fd = 1): pino.DestinationStream {
  const destination = pino.destination({ dest: fd, sync: false });
  // the first error ends it: what it buffers is dropped, a flush waits for nothing. (An EAGAIN is
  // retried by the stream itself, never reported here.)
  destination.on('error', () => {
    Object.assign(destination, { write: () => true, flush: (cb?: (err?: Error) => void) => cb?.(), flushSync: () => {}, end: () => {}, destroy: () => {} });
  });
  return destination;
}

/**
 * The gate's JSON logger: request ids, no secrets (Authorization, tokens and cookies are
 * redacted). By default it writes to stdout (logDestination); flushLogger() drains it on
 * shutdown. The audit log, not this log, is the durable record.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = logDestination(),
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
