import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';

/** Runs the gate's CLI on a data directory; resolves with its stdout, rejects on a non-zero exit. */
export function runCli(args: string[], dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'cli.ts'), ...args, '--data-dir', dataDir], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`cli ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** A new local token (`gate token create`), as printed once. */
export async function createToken(dataDir: string, name: string, roles: string): Promise<string> {
  const out = await runCli(['token', 'create', '--name', name, '--roles', roles], dataDir);
  const token = out.trim().split('\n').at(-1) ?? '';
  if (!/^gate_/.test(token)) throw new Error(`no token in: ${out}`);
  return token;
}

/** One JSON call to the gate at `url`, with a bearer token or none: its status and parsed body. */
export async function callGate(url: string, token: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
