import { join } from 'node:path';
import { writeAllAt, type AuditFileHandle, type AuditFs } from './audit-fs.ts';
import { listSegments, type Segment } from './segments.ts';

/** Where the log's durable part ends. */
export interface DurableEnd {
  seq: number;
  file: Segment | null;
  size: number;
}

interface RepairContext {
  fs: AuditFs;
  dir: string;
  fsync: boolean;
  /** told of an empty newer file another gate created, which the repair removes */
  onStaleFileRemoved?: (name: string) => void;
  /** whether this gate still holds the data directory, checked again just before each removal or cut */
  isWriter?: () => boolean;
}

/**
 * Throws unless this gate still holds the data directory: checked just before each step that
 * removes or cuts a file. Each call before it may have stalled (NFS) past this gate's lease, and
 * once another gate holds the directory the file may hold its records: a file of the name this
 * gate's next one would have (a gate that read the same head names it alike), or the newest
 * durable file, which the new holder appends to.
 */
function stillWriter(ctx: RepairContext, what: string): void {
  if (ctx.isWriter && !ctx.isWriter()) throw new Error(`${what}: this gate no longer holds the data-directory lock; the file is left alone`);
}

async function isEmptyFile(fs: AuditFs, path: string): Promise<boolean> {
  const fh = await fs.open(path, 'r');
  try {
    return (await fh.stat()).size === 0;
  } finally {
    await fh.close().catch(() => {});
  }
}

const PROBE_FILE = '.audit-probe';

/**
 * Undoes a failed batch at once: closes and removes the files it created (`removed` told of each
 * one gone) and truncates the newest durable file (`fh`, null when the batch did not write into
 * it) back to its durable size. Throws when that fails too; the recovery probe (repairLog) then
 * does it.
 */
export async function rollbackBatch(
  ctx: RepairContext,
  durable: DurableEnd,
  fh: AuditFileHandle | null,
  created: readonly { seg: Segment; fh: AuditFileHandle }[],
  removed: (name: string) => void = () => {},
): Promise<void> {
  // every handle first: a removal that fails stops the rollback, and must not leave the others open
  for (const c of created) await c.fh.close().catch(() => {});
  for (const c of created) {
    stillWriter(ctx, c.seg.name);
    await ctx.fs.unlink(join(ctx.dir, c.seg.name)).catch((e: { code?: string }) => {
      if (e.code !== 'ENOENT') throw e;
    });
    removed(c.seg.name);
  }
  if (created.length > 0 && ctx.fsync) await ctx.fs.syncDir(ctx.dir);
  if (fh !== null) {
    stillWriter(ctx, durable.file?.name ?? 'the newest audit file');
    await fh.truncate(durable.size);
    if (ctx.fsync) await fh.datasync();
  }
}

/**
 * Brings the directory back to its durable state and proves it takes durable writes again:
 * removes the files newer than the durable head that this gate created (`own`: those of its
 * failed batches), reopens the newest durable file and truncates it to
 * its durable size, then writes, fsyncs and removes a probe file and fsyncs the directory.
 * Returns the newest durable file opened for writing (null for an empty log). Throws when any
 * step fails, when the file is shorter than its durable size (acknowledged records gone: the
 * log must not be extended), or when a newer file is not this gate's own and holds bytes: another
 * gate is writing the directory (it took the lock over while this one still counted itself the
 * holder), and that file holds the records it acknowledged. Left alone; the log stays closed. An
 * empty one is a stale gate's late create, and is removed.
 */
export async function repairLog(
  ctx: RepairContext,
  durable: DurableEnd,
  own: ReadonlySet<string>,
  /** false while no batch of this gate has landed: the newest file is the one start-up found, which it never writes into, and bytes past its last record (a stale gate's late write) stay for audit verify */
  cutNewest = true,
): Promise<AuditFileHandle | null> {
  const { fs, dir, fsync } = ctx;
  const newer = (await listSegments(fs, dir)).filter((s) => s.firstSeq > durable.seq);
  const stale = new Set<string>();
  for (const s of newer.filter((s) => !own.has(s.name))) {
    // this runs only while this gate holds the directory (recover() checks): an EMPTY newer file
    // it did not create is a stale gate's create that landed late (an NFS CREATE retried through
    // a partition, read at the same head, so named as this gate's next file), holding nothing,
    // and left there it would fail every batch of this gate (EEXIST) for good. A file with bytes
    // in it may hold records another gate acknowledged: left alone, the log stays closed.
    if (await isEmptyFile(fs, join(dir, s.name))) {
      stale.add(s.name);
      continue;
    }
    throw new Error(`${s.name} is newer than this gate's durable head (seq ${durable.seq}) and was not written by it: another gate is writing this directory; it is left alone`);
  }
  for (const s of newer) {
    stillWriter(ctx, s.name);
    if (stale.has(s.name)) ctx.onStaleFileRemoved?.(s.name);
    await fs.unlink(join(dir, s.name));
  }
  let fh: AuditFileHandle | null = null;
  if (durable.file !== null) {
    const h = await fs.open(join(dir, durable.file.name), 'r+');
    try {
      const { size } = await h.stat();
      if (size < durable.size) throw new Error(`${durable.file.name} is shorter (${size}) than its durable size (${durable.size})`);
      if (cutNewest) {
        stillWriter(ctx, durable.file.name);
        await h.truncate(durable.size);
        if (fsync) await h.datasync();
      }
    } catch (err) {
      await h.close().catch(() => {});
      throw err;
    }
    fh = h;
  }
  try {
    const probePath = join(dir, PROBE_FILE);
    const p = await fs.open(probePath, 'w');
    try {
      await writeAllAt(p, Buffer.from(`audit probe ${new Date().toISOString()}\n`), 0);
      if (fsync) await p.datasync();
    } finally {
      await p.close().catch(() => {});
    }
    await fs.unlink(probePath);
    if (fsync) await fs.syncDir(dir);
  } catch (err) {
    await fh?.close().catch(() => {});
    throw err;
  }
  return fh;
}
