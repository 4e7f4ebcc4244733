import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TapLike, tempDir } from './temp-dir.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SpawnedGate {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  dataDir: string;
  /** tokens printed at first start, by name ("admin", "kargo") */
  tokens: Record<string, string>;
  stdout: () => string;
  stderr: () => string;
  /** resolves with the exit code (or signal) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the real gate (`node src/server.ts`) on a free loopback port with its own data
 * directory, and waits until it listens. Env adds to / overrides the defaults. Given `t`, the gate
 * is killed when `t` ends if it still runs; without `dataDir` (which then needs `t`) the data
 * directory is a new temp dir, removed after that.
 */
export async function spawnGate(
  opts: {
    env?: Record<string, string>;
    timeoutMs?: number;
    entry?: string;
    /**
     * the gate's stdout goes to this file rather than to a pipe this process reads (stdout() then
     * stays empty): the benchmark's load generator must not spend its CPU reading the gate's log
     */
    logFile?: string;
  } & ({ t: TapLike; dataDir?: undefined } | { t?: TapLike; dataDir: string }),
): Promise<SpawnedGate> {
  const dataDir = opts.dataDir === undefined ? await tempDir(opts.t, 'gate-proc-') : opts.dataDir;
  const logFd = opts.logFile === undefined ? null : openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [opts.entry ?? join(REPO_ROOT, 'src', 'server.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', GATE_DATA_DIR: dataDir, GATE_PORT: '0', GATE_LOG_LEVEL: 'info', ...(opts.env ?? {}) },
    stdio: ['ignore', logFd ?? 'pipe', 'pipe'],
  });
  if (logFd !== null) closeSync(logFd); // the child has its own copy
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  // the log file's start, read until the gate says where it listens
  let onOutput = () => {};
  const poll = opts.logFile === undefined ? null : setInterval(() => void readFile(opts.logFile!, 'utf8').then((text) => void ((out = text), onOutput()), () => {}), 20);
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // before its data directory goes (teardowns run last registered first)
  opts.t?.teardown(() => stop(child, exited, 'SIGKILL'));

  const listening = new Promise<string>((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 30000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a gate behind
      reject(new Error(`gate did not start within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    onOutput = () => {
      const m = /"address":"(http:\/\/[^"]+)"/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onOutput);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onOutput);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`gate exited with ${code} before listening\nstdout: ${out}\nstderr: ${err}`), { code, stderr: err }));
    });
  });
  let url: string;
  try {
    url = await listening;
  } finally {
    if (poll !== null) {
      clearInterval(poll);
      out = '';
    }
  }
  const tokens: Record<string, string> = {};
  for (const m of err.matchAll(/^\s+(\S+)\s+roles=\S+\s+(gate_\S+)$/gm)) tokens[m[1] as string] = m[2] as string;
  return {
    child,
    url,
    dataDir,
    tokens,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stop(child, exited, signal),
  };
}

/** Sends `signal` to a gate that still runs; resolves when it has exited. */
async function stop<T>(child: ChildProcess, exited: Promise<T>, signal: NodeJS.Signals): Promise<T> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  return exited;
}

/**
 * `node src/server.ts` with only the given environment (plus PATH), for tests that must watch a
 * start-up spawnGate would wait out (a lock wait, a signal during start-up): its output so far,
 * how it exited, and a SIGKILL at teardown. `stdout`: a file descriptor the gate gets as its
 * stdout instead of a pipe (out() then stays empty).
 */
export function startServer(t: { teardown(fn: () => unknown): void }, env: Record<string, string>, opts: { stdout?: number } = {}) {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'src', 'server.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', GATE_PORT: '0', GATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // gone before a data directory made earlier in the test is removed
  t.teardown(() => stop(child, exited, 'SIGKILL'));
  return { child, out: () => out, err: () => err, exited };
}

/** A loopback port free a moment ago (for a gate whose log, and so its address, cannot be read). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
  });
}
