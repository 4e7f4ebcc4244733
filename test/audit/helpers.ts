import { nodeAuditFs, type AuditFileHandle, type AuditFs } from '../../src/audit/audit-fs.ts';
import type { AuditEntry } from '../../src/audit/event.ts';
import { eventually } from '../helpers/eventually.ts';

/** A valid entry; `i` makes ids distinct, overrides change any field. */
export function entry(i: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    at: '2026-11-26T14:30:00.000Z',
    type: 'decision',
    id: `dec-${i}`,
    actor: { name: 'kargo', groups: ['promoters'], via: 'local-token' },
    requestedBy: 'admin',
    project: 'stonks',
    stage: 'prod',
    imageTag: `v1.0.${i}`,
    promotion: `promo-${i}`,
    decision: 'allow',
    reasons: [{ code: 'MARKET_CLOSED', message: 'market is closed' }],
    breakGlass: null,
    approval: null,
    data: { n: i },
    ...overrides,
  };
}

export type FsOp = 'open' | 'write' | 'datasync' | 'truncate' | 'syncDir' | 'unlink' | 'readdir';

/**
 * An AuditFs over the real one whose operations can be made to fail with an errno code.
 * `partialWrite`: a failing write first writes half its bytes, as a disk filling up does.
 * `state.writes`: every write asked for (file, offset, bytes).
 */
export function faultyFs(base: AuditFs = nodeAuditFs) {
  const faults: Partial<Record<FsOp, string>> = {};
  const calls: Record<FsOp, number> = { open: 0, write: 0, datasync: 0, truncate: 0, syncDir: 0, unlink: 0, readdir: 0 };
  const state = { partialWrite: false, bytesRead: 0, openedForRead: [] as string[], writes: [] as { path: string; at: number; bytes: number }[] };
  const fail = (op: FsOp): void => {
    calls[op] += 1;
    const code = faults[op];
    if (code) throw Object.assign(new Error(`${code}: injected ${op} failure`), { code });
  };
  const fs: AuditFs = {
    async open(path, flags) {
      if (flags !== 'r') fail('open'); // an `open` fault hits opening for writing only
      else calls.open += 1;
      const fh = await base.open(path, flags);
      if (flags === 'r') state.openedForRead.push(path);
      const wrapped: AuditFileHandle = {
        read: async (b, o, l, p) => {
          const r = await fh.read(b, o, l, p);
          state.bytesRead += r.bytesRead;
          return r;
        },
        write: async (b, o, l, p) => {
          state.writes.push({ path, at: p, bytes: l });
          if (faults.write && state.partialWrite && l > 1) await fh.write(b, o, Math.floor(l / 2), p);
          fail('write');
          return fh.write(b, o, l, p);
        },
        datasync: async () => {
          fail('datasync');
          await fh.datasync();
        },
        truncate: async (len) => {
          fail('truncate');
          await fh.truncate(len);
        },
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
      return wrapped;
    },
    readdir: async (p) => {
      fail('readdir');
      return base.readdir(p);
    },
    mkdir: (p) => base.mkdir(p),
    stat: (p) => base.stat(p),
    unlink: async (p) => {
      fail('unlink');
      await base.unlink(p);
    },
    syncDir: async (p) => {
      fail('syncDir');
      await base.syncDir(p);
    },
  };
  return { fs, faults, calls, state };
}

/** Records what a logger was told. */
export function memoryLogger() {
  const lines: { level: 'warn' | 'info'; obj: object; msg: string }[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => void lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => void lines.push({ level: 'info', obj, msg }),
  };
}

/** Waits until `cond()` holds, polling; fails after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  if (!(await eventually(cond, ms))) throw new Error('waitFor: condition not met in time');
}
