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
  // stdout a pipe (a container runtime's, `npm start | …`): Node's own stream for it puts the
  // descriptor in non-blocking mode. Without it a write to a pipe nobody reads waits in a libuv
  // thread for ever, and the exit, which joins those threads, never ends; with it the write is
  // EAGAIN, which the stream retries from the event loop, and a stop can give up on the log
  if (fd === 1) void process.stdout;
  const destination = pino.destination({ dest: fd, sync: false });
  // the first error ends it: what it buffers is dropped, a flush waits for nothing. (An EAGAIN is
  // retried by the stream itself, never reported here.)
  destination.on('error', () => dropped(destination));
  return destination;
}

/** The destination made to take and wait for nothing more: what it buffers is dropped. */
function dropped(destination: object): void {
  Object.assign(destination, { write: () => true, flush: (cb?: (err?: Error) => void) => cb?.(), flushSync: () => {}, end: () => {}, destroy: () => {} });
}

/**
 * Ends the log for good, dropping what it has not written: for an exit that must not wait on a
 * stdout nobody reads (a paused terminal, a full pipe). pino's own last flush at the exit would
 * otherwise retry the write every 100 ms for ever, EPIPE and a full pipe alike, and the gate hang
 * after it has stopped.
 */
export function dropLog(log: Logger): void {
  const destination = destinationOf(log);
  if (destination) dropped(destination);
}

/** The logger's destination (a SonicBoom for the gate's own), or null. */
function destinationOf(log: Logger): (NodeJS.EventEmitter & { _writing?: boolean; _len?: number }) | null {
  const destination = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return destination && typeof destination === 'object' ? (destination as NodeJS.EventEmitter & { _writing?: boolean; _len?: number }) : null;
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

/** Writes out what the logger still buffers (at shutdown), waiting at most `ms` (1 s). */
export function flushLogger(log: Logger, ms = 1000): Promise<void> {
  return new Promise((resolve) => {
    // a stdout nobody reads never drains: past `ms` the rest is dropped (dropLog), not waited for
    const timer = setTimeout(() => {
      dropLog(log);
      resolve();
    }, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    log.flush(() => {
      // SonicBoom calls back at once when it holds nothing more to hand over, with its last write
      // still under way (a full pipe keeps it there): wait for that write to end ('drain'), or the
      // exit's own last flush would write the rest synchronously, and block
      const d = destinationOf(log);
      if (d && typeof d.once === 'function' && (d._writing === true || (d._len ?? 0) > 0)) d.once('drain', done);
      else done();
    });
  });
}
