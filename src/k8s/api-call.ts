import { ApiException, KubeConfig, Observable, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import type { Agent } from 'undici';
import { within } from '../within.ts';
import { kubeDispatcher, retireKubeDispatcher } from './kube-dispatcher.ts';

/** The Kubernetes API could not give an answer in time (unreachable, slow, error status, malformed). */
export class KubeUnavailableError extends Error {
  override name = 'KubeUnavailableError';
}

/**
 * The options of one call of @kubernetes/client-node: the request is aborted by `signal` (the
 * library's fetch takes the signal from the request context) and goes over the kept connections
 * of `kc` (kubeDispatcher), not over a new one. `used` learns the kept dispatcher the call went
 * through, if any.
 */
export function callOptions(kc: KubeConfig, signal: AbortSignal, used: { dispatcher?: Agent } = {}) {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) =>
          new Observable(
            kubeDispatcher(kc).then((dispatcher) => {
              ctx.setSignal(signal);
              if (dispatcher) {
                ctx.setDispatcher(dispatcher);
                used.dispatcher = dispatcher;
              }
              return ctx;
            }),
          ),
        post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
      },
    ],
    middlewareMergeStrategy: 'append' as const,
  };
}

export type CallOptions = ReturnType<typeof callOptions>;

/**
 * The codes of a request that got no answer because its connection went: the API server (or a
 * load balancer) closing a kept-alive connection just as the request went out on it; over HTTP/2,
 * a GOAWAY (a kube-apiserver restarting gracefully, or its --goaway-chance) or a stream reset
 * before the answer, which undici reports as UND_ERR_INFO; or a kept dispatcher closed (its TLS
 * settings rotated, or retired after a call with no answer) between the moment this call took it
 * and the moment it sent the request, which then never left.
 */
const DROPPED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_INFO']);

function droppedConnection(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; cause?: { code?: unknown } | null };
  return DROPPED.has(String(e.code)) || DROPPED.has(String(e.cause?.code));
}

/**
 * Runs one API call (`call`, given the options to pass the library: callOptions) with a hard
 * deadline: whatever the library does, the promise settles within `timeoutMs`, and every failure
 * (timeout, connection refused, TLS error, HTTP error, unparsable body) becomes
 * KubeUnavailableError naming what happened (failureDetail). A call whose connection closed
 * before any answer (a kept one the server closed as the request went out) is made once more,
 * within the same deadline: the calls of the gate (reviews, a list) change nothing.
 */
export async function callWithDeadline<T>(what: string, kc: KubeConfig, timeoutMs: number, call: (options: CallOptions) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  const used: { dispatcher?: Agent } = {};
  const options = callOptions(kc, signal, used);
  const attempt = async (): Promise<T> => {
    try {
      return await call(options);
    } catch (err) {
      if (signal.aborted || !droppedConnection(err)) throw err;
      return await call(options);
    }
  };
  const late = () => new KubeUnavailableError(`${what}: no answer from the Kubernetes API within ${timeoutMs} ms`);
  try {
    return await within(attempt(), timeoutMs, () => {
      throw late();
    });
  } catch (err) {
    // no answer came over the kept connections (an HTTP error status or a body that is not JSON
    // is an answer): the next call opens a new one rather than trust them
    if (used.dispatcher && !(err instanceof ApiException) && !(err instanceof SyntaxError)) retireKubeDispatcher(kc, used.dispatcher, timeoutMs);
    if (err instanceof KubeUnavailableError) throw err;
    // the signal ends the request at the same deadline: said the same way, whichever came first
    if (signal.aborted) throw late();
    throw new KubeUnavailableError(`${what}: ${failureDetail(err, timeoutMs)}`);
  }
}

/** user:password@ in a URL. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi;

/**
 * What went wrong in an API call, in words fit for a 503 answer, the audit log and the public
 * /v1/status: an HTTP status, a timeout, a body that is not JSON (not quoted: JSON.parse's
 * message quotes the text around its error, and a TokenReview answer holds the caller's token),
 * or a connection that failed with its cause's code (undici says only "fetch failed"; the cause
 * names a refused connection, an unknown host, a certificate the CA does not sign). Credentials
 * in a URL the message quotes are blanked.
 */
function failureDetail(err: unknown, timeoutMs: number): string {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
  if (typeof e.code === 'number') return `HTTP ${e.code}`;
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (err instanceof SyntaxError) return 'the answer is not valid JSON';
  let text = typeof e.message === 'string' ? e.message : String(err);
  const cause = (e.cause ?? null) as { code?: unknown; message?: unknown } | null;
  if (cause !== null && typeof cause === 'object') {
    const why = typeof cause.code === 'string' && cause.code !== '' ? cause.code : typeof cause.message === 'string' ? cause.message : '';
    if (why !== '') text += ` (${why})`;
  }
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}

/** The API server a KubeConfig talks to (for log lines), any credentials in its URL blanked. */
export function serverOf(kc: KubeConfig): string {
  return (kc.getCurrentCluster()?.server ?? 'unknown').replace(URL_CREDENTIALS, '$1[redacted]@');
}

/**
 * The KubeConfig of Kubernetes mode: in a pod (KUBERNETES_SERVICE_HOST) the in-cluster one, else
 * KUBECONFIG or ~/.kube/config. Throws when there is none: the library then falls back to
 * http://localhost:8080, unauthenticated and in plain text, where every caller's bearer token
 * would go in a TokenReview (to whatever listens there: the gate's own default port) and every
 * request be a 503.
 */
export function loadKubeConfig(env: Record<string, string | undefined>): KubeConfig {
  const kc = new KubeConfig();
  if (env['KUBERNETES_SERVICE_HOST']) {
    kc.loadFromCluster();
    return kc;
  }
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (kc.getCurrentContext() === 'loaded-context' && cluster?.name === 'cluster' && cluster.server === 'http://localhost:8080') {
    throw new Error(
      'GATE_AUTH=kubernetes: no Kubernetes configuration: not in a pod (no KUBERNETES_SERVICE_HOST), no KUBECONFIG, no ~/.kube/config; ' +
        'point KUBECONFIG at one, or use GATE_AUTH=local',
    );
  }
  return kc;
}
