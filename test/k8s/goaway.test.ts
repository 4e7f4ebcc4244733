// kube-apiserver speaks HTTP/2 (ALPN), and says GOAWAY when an instance shuts down (an upgrade,
// a restart) or at random with --goaway-chance: Go's server names the last stream it takes, and
// a stream the client opened after it is refused, unprocessed. Such a call never reached the API
// server, as one sent on a kept HTTP/1.1 connection the server closed: it should go once more.
import { readFileSync } from 'node:fs';
import { constants, createSecureServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { createKubernetesAuthenticator } from '../../src/k8s/kubernetes-auth.ts';
import { GATE_SA_TOKEN, TEST_CA } from '../helpers/fake-kube-api.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const KARGO_SA = 'system:serviceaccount:stonks-pipeline:gate-caller';

t.test('HTTP/2: a review the API server refused with GOAWAY (it never processed it) is made again, not a 503', async (t) => {
  const server = createSecureServer({ key: readFileSync(fixture('api-server.key')), cert: readFileSync(fixture('api-server.crt')) });
  let sessions = 0;
  let answered = 0;
  let held: ServerHttp2Stream | null = null;
  const answer = (stream: ServerHttp2Stream) => {
    if (stream.destroyed || stream.closed) return;
    answered++;
    stream.respond({ ':status': 201, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status: { authenticated: true, user: { username: KARGO_SA, groups: [] } } }));
  };
  server.on('session', () => sessions++);
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => {
      const session = stream.session;
      if (sessions > 1 || !session) return answer(stream);
      // the first session: the first review is held until a second one is on its way, then the
      // server goes away taking only the first (as Go's server does when the second was sent
      // after its GOAWAY left), answers it, and refuses the second
      if (held === null) {
        held = stream;
        return;
      }
      session.goaway(constants.NGHTTP2_NO_ERROR, held.id);
      answer(held);
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: readFileSync(TEST_CA).toString('base64') }],
    users: [{ name: 'gate', token: GATE_SA_TOKEN }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'gate' }],
    currentContext: 'fake',
  });
  const auth = createKubernetesAuthenticator({ kubeConfig: kc, cacheSeconds: 0 });
  const review = (token: string) => auth.authenticate({ headers: { authorization: `Bearer ${token}` }, remoteAddress: '127.0.0.1', client: token });
  const first = review('kargo-token-1');
  // the second goes out once the first is on the wire, on the same session
  await new Promise((r) => setTimeout(r, 100));
  const second = review('kargo-token-2');
  t.match(await first, { ok: true, identity: { name: KARGO_SA } }, 'the review the server took is answered');
  const again = await second;
  t.match(again, { ok: true, identity: { name: KARGO_SA } }, `the refused one is made again over a new session, not a 503 (${again.ok ? 'ok' : again.message})`);
  t.ok(sessions >= 2, `sessions opened: ${sessions}`);
});
