import type { Test } from 'tap';
/** Records a visible skip: a notice on stderr and a skipped subtest. */
export function skipWithNotice(t: Test, reason: string): void {
  process.stderr.write(`NOTICE: ${reason}\n`);
  void t.test(reason, { skip: reason }, async () => {});
}
