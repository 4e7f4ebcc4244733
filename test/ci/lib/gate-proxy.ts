// A loopback proxy in front of a real gate, to put the gate into states a test cannot easily
// bring about in the real process: answering 5xx for a while, or a stricter body check. Each
// request is answered by `decide(n, req)`: 'forward' passes it to the gate unchanged, a
// function of the body forwards a rewritten body, an object is sent back as the answer.
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';

export type ProxyAction = 'forward' | { rewriteBody: (body: Buffer) => Buffer } | { status: number; body: string; contentType?: string };

export interface GateProxy {
  url: string;
  /** requests received so far */
  count: () => number;
  close: () => Promise<void>;
}

/** Starts the proxy on a free loopback port in front of `target` (e.g. a spawned gate's url). */
export async function startGateProxy(target: string, decide: (n: number, req: IncomingMessage) => ProxyAction): Promise<GateProxy> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      n += 1;
      const action = decide(n, req);
      if (typeof action === 'object' && 'status' in action) {
        res.writeHead(action.status, { 'content-type': action.contentType ?? 'application/json' });
        res.end(action.body);
        return;
      }
      let body: Buffer | undefined = chunks.length ? Buffer.concat(chunks) : undefined;
      if (typeof action === 'object' && body) body = action.rewriteBody(body);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body })
        .then(async (r) => {
          const text = await r.text();
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        })
        .catch((err: Error) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`proxy: ${err.message}`);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
