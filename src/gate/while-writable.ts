import { AuditUnavailableError } from '../audit/log.ts';

/** How often a wait checks whether the audit log can still be written. */
const CHECK_EVERY_MS = 50;

/**
 * Waits for `p`, an earlier change still on its way to the audit log, but no longer than the log
 * stays writable: once `writable()` is false (a write or fsync that has not returned for the
 * log's stall time, a failed disk) it rejects with AuditUnavailableError, checked at once and
 * every 50 ms. A request queued behind a stalled append then gets the 503 every other request
 * gets at once, instead of an answer that never comes.
 */
export function whileWritable<T>(p: Promise<T>, writable: () => boolean): Promise<T> {
  if (!writable()) return Promise.reject(notWritable());
  return new Promise<T>((resolve, reject) => {
    const check = setInterval(() => {
      if (writable()) return;
      clearInterval(check);
      reject(notWritable());
    }, CHECK_EVERY_MS);
    p.then(
      (v) => {
        clearInterval(check);
        resolve(v);
      },
      (err: unknown) => {
        clearInterval(check);
        reject(err);
      },
    );
  });
}

const notWritable = () => new AuditUnavailableError('audit log is not writable');
