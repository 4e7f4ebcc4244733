import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { spawnGate } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// One client that sends many bodies at once which JSON makes large (64 KiB of `[],` parses to
// ~0.85 MB of arrays) must not run the real gate out of memory: before the body budget, and while
// a keep-alive connection kept its last request (and that request's parsed body) alive, a few
// hundred of them ended the process ("JavaScript heap out of memory"). The heap is held to 160 MB
// here so the test needs few requests; the chart's 384 MiB container gives Node about as much.

t.test('hundreds of concurrent 64 KiB bodies that parse large, on keep-alive connections: every one answered 400 or 503 bodies_saturated, and the gate lives on', async (t) => {
  // all from one address: past the 256 connections one client may hold the rest would be closed
  // unanswered (http.maxConnectionsPerClient), and this test is about the bodies
  const config = join(await tempDir(t, 'gate-body-memory-'), 'gate.yaml');
  await writeFile(config, 'http: { maxConnectionsPerClient: 1024 }\n');
  const gate = await spawnGate({ t, env: { NODE_OPTIONS: '--max-old-space-size=160', GATE_NOW: '2026-11-25T22:00:00Z', GATE_CONFIG: config } });
  const token = gate.tokens['kargo'] as string;
  let body = '{"x":[';
  while (body.length < 64 * 1024 - 10) body += '[],';
  body = `${body.slice(0, -1)}]}`;
  const send = async () => {
    try {
      const r = await fetch(`${gate.url}/v1/decisions/preview`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      return `${r.status} ${((await r.json()) as { error?: string }).error}`;
    } catch (err) {
      return `no answer: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`;
    }
  };
  const answers: Record<string, number> = {};
  for (let round = 0; round < 2; round++) for (const a of await Promise.all(Array.from({ length: 400 }, send))) answers[a] = (answers[a] ?? 0) + 1;
  t.same(
    Object.keys(answers).filter((a) => a !== '400 invalid_request' && a !== '503 bodies_saturated'),
    [],
    'every request answered 400 (the body is no decision request) or 503 (too many bodies held at once)',
    { answers, stderr: gate.stderr().slice(-2000) },
  );
  t.ok((answers['400 invalid_request'] ?? 0) >= 32, 'many were read and refused', { answers });
  t.equal((await fetch(`${gate.url}/healthz`)).status, 200, 'the gate lives on');
  const d = await fetch(`${gate.url}/v1/decisions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', promotion: 'after-the-flood' }),
  });
  t.equal(d.status, 200, 'and decides');
  t.same(await gate.stop('SIGTERM'), { code: 0, signal: null }, 'and stops cleanly');
});
