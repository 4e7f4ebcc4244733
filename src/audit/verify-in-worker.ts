import { Worker } from 'node:worker_threads';
import type { VerifyResult } from './verify.ts';

/** the worker's entry next to this file: .ts when run from source, .js from the build */
const ENTRY = new URL(`./verify-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * verifyAuditLog(dir) on a worker thread: a full walk reads and hashes every record, which on a
 * large log is seconds of CPU that must not sit on the thread answering Kargo. Rejects with the
 * worker's error (a directory or file that cannot be read), or when the worker dies without an
 * answer. The worker does not keep the process alive.
 */
export function verifyAuditLogInWorker(dir: string): Promise<VerifyResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: { dir } });
    worker.unref();
    let settled = false;
    worker.once('message', (result: VerifyResult) => {
      settled = true;
      resolve(result);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`audit verification worker exited with code ${code} before answering`));
    });
  });
}
