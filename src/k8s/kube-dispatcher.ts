import { createHash } from 'node:crypto';
import type { AgentOptions, RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'undici';

/**
 * How long a connection to the API server is kept open unused: shorter than the idle timeout of
 * the API server (90 s) and of the load balancers in front of it (60 s on an AWS ELB), so that the
 * gate, not the server, closes an idle connection, and no request goes out on one the server is
 * closing; longer than the longest Stage poll (30 s), which so keeps one connection open for the
 * TokenReviews of the decisions.
 */
const IDLE_MS = 45_000;

/**
 * The most connections open to the API server at once, well above what the gate's own bounds let
 * it ask at once (64 TokenReviews by default, the SubjectAccessReviews of as many requests, one
 * list of Stages): a call beyond it waits for a free connection, within its deadline.
 */
const MAX_CONNECTIONS = 128;

/** The kept dispatcher of a KubeConfig, and the TLS settings it was made with (hashed). */
const kept = new WeakMap<KubeConfig, { tls: string; agent: Agent }>();

/**
 * The undici dispatcher that API calls made with `kc` go through: one per KubeConfig, kept
 * across calls, its connections kept alive (IDLE_MS, at most MAX_CONNECTIONS), where
 * @kubernetes/client-node 2 makes a new one for each call (KubeConfig.applySecurityAuthentication
 * → createDispatcher), so that each call opens a connection of its own, with its TLS handshake.
 *
 * Its TLS settings are the library's own: the CA, client certificate and key, server name and
 * certificate checking the kubeconfig says (read as the library reads them for each call, files
 * and exec credentials included: applyToHTTPSOptions), mapped to undici's connect options by the
 * library (createDispatcherOptions). When they change (a rotated CA or client certificate) a new
 * dispatcher takes over, and the old one closes gracefully: the calls still on it finish (each
 * within its own deadline), its connections close, checked as they were against the old
 * settings, and no later call goes over them. undefined where the library
 * makes no dispatcher of its own (no TLS settings: undici's global one, already keeping
 * connections) or goes through a proxy: there the library's dispatcher stays.
 */
export async function kubeDispatcher(kc: KubeConfig): Promise<Agent | undefined> {
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  // the fields applySecurityAuthentication passes on, as it does
  const tls: AgentOptions = { ca: options.ca, cert: options.cert, key: options.key, pfx: options.pfx, passphrase: options.passphrase };
  if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized;
  if (options.servername !== undefined) tls.servername = options.servername;
  const made = kc.createDispatcherOptions(kc.getCurrentCluster(), tls);
  if (made.type !== 'agent') return undefined;
  const fingerprint = createHash('sha256').update(JSON.stringify(made.connect)).digest('hex');
  const current = kept.get(kc);
  if (current?.tls === fingerprint) return current.agent;
  const agent = new Agent({ connect: made.connect, keepAliveTimeout: IDLE_MS, keepAliveMaxTimeout: IDLE_MS, connections: MAX_CONNECTIONS });
  kept.set(kc, { tls: fingerprint, agent });
  current?.agent.close().catch(() => {});
  return agent;
}

/**
 * Takes `agent` out of use for `kc` after a call on it got no answer (the deadline passed, or its
 * connection failed): the next call opens a new connection. A kept connection to an API server
 * instance that died without closing it (power lost, a partition) is otherwise used again and
 * again: over HTTP/2, which undici offers and kube-apiserver picks, every call goes on that one
 * session, and an aborted call resets only its stream, so every review is a 503 until undici's
 * pings give up on the session (about two minutes). The retired agent closes gracefully; what is
 * still open on it after `graceMs` (the calls' own deadline) is destroyed.
 */
export function retireKubeDispatcher(kc: KubeConfig, agent: Agent, graceMs: number): void {
  if (kept.get(kc)?.agent !== agent) return;
  kept.delete(kc);
  agent.close().catch(() => {});
  setTimeout(() => agent.destroy().catch(() => {}), graceMs).unref();
}
