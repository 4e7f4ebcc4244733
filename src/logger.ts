import pino, { type Logger } from 'pino';

const SECRET_PARAM = /token|secret|password|auth|key/i;

/** A request URL safe to log: values of credential-looking query parameters are replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) if (SECRET_PARAM.test(key)) params.set(key, '[redacted]');
  const rest = params.toString();
  return rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
}

/** The gate's JSON logger: request ids, no secrets (Authorization, tokens and cookies are redacted). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'stonks-gate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.breakGlassToken', 'token', 'breakGlassToken'],
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
