import { Worker } from 'node:worker_threads';
import type { VerifyResult } from './verify.ts';

/** the worker's entry next to this file: .ts when run from source, .js from the build */
const ENTRY = new URL(`./verify-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** a walk that takes longer than this is stopped and reported as an error (default 30 minutes) */
export const VERIFY_TIMEOUT_MS = 30 * 60 * 1000;

/**
 * verifyAuditLog(dir, fs, { archivedThrough }) on a worker thread: a full walk reads and hashes
 * every record, which on a large log is seconds of CPU that must not sit on the thread answering
 * Kargo. Rejects with the
 * worker's error (a directory or file that cannot be read), when the worker dies without an
 * answer, or when it has not answered within `timeoutMs` (the worker is then stopped). The
 * worker does not keep the process alive.
 */
export function verifyAuditLogInWorker(dir: string, opts: { timeoutMs?: number; archivedThrough?: number } = {}): Promise<VerifyResult> {
  const timeoutMs = opts.timeoutMs ?? VERIFY_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: { dir, archivedThrough: opts.archivedThrough } });
    worker.unref();
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new Error(`audit verification did not finish within ${Math.round(timeoutMs / 1000)} s; stopped`)));
      void worker.terminate();
    }, timeoutMs);
    timer.unref();
    worker.once('message', (result: VerifyResult) => settle(() => resolve(result)));
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`audit verification worker exited with code ${code} before answering`))));
  });
}
