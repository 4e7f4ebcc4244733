import * as fsp from 'node:fs/promises';

/** The part of a file handle the audit log uses; node's FileHandle fits it. */
export interface AuditFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(len: number): Promise<void>;
  /** `ino`/`dev` name the file, `nlink` is 0 once it is removed from every directory */
  stat(): Promise<FileIdentity & { size: number; nlink: number }>;
  close(): Promise<void>;
}

/**
 * The file-system calls the audit log makes. Production uses nodeAuditFs; tests wrap it to
 * count bytes read or to make a write, fsync or truncate fail (ENOSPC, EIO...).
 */
export interface AuditFs {
  open(path: string, flags: string): Promise<AuditFileHandle>;
  readdir(path: string): Promise<string[]>;
  /** creates the directory and its parents; no error when it exists */
  mkdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsyncs a directory, making creations and removals of its entries durable */
  syncDir(path: string): Promise<void>;
  /** which file `path` names now (rejects ENOENT when none) */
  stat(path: string): Promise<FileIdentity>;
}

/** A file as the file system knows it, whatever names it has. */
export interface FileIdentity {
  ino: number;
  dev: number;
}

export const nodeAuditFs: AuditFs = {
  open: (path, flags) => fsp.open(path, flags),
  readdir: (path) => fsp.readdir(path),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  unlink: (path) => fsp.unlink(path),
  stat: (path) => fsp.stat(path),
  syncDir: async (path) => {
    const fh = await fsp.open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export async function readAt(fh: AuditFileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Writes all of `buf` at `position`, looping over short writes; throws what the write throws. */
export async function writeAllAt(fh: AuditFileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/** Counters kept by countingFs. */
export interface FsCounters {
  bytesRead: number;
  bytesWritten: number;
  datasyncs: number;
}

/** Wraps an AuditFs so every read, write and datasync through its handles is counted. */
export function countingFs(base: AuditFs, counters: FsCounters): AuditFs {
  return {
    ...base,
    open: async (path, flags) => {
      const fh = await base.open(path, flags);
      return {
        read: async (b, o, l, p) => {
          const r = await fh.read(b, o, l, p);
          counters.bytesRead += r.bytesRead;
          return r;
        },
        write: async (b, o, l, p) => {
          const r = await fh.write(b, o, l, p);
          counters.bytesWritten += r.bytesWritten;
          return r;
        },
        datasync: async () => {
          await fh.datasync();
          counters.datasyncs += 1;
        },
        truncate: (len) => fh.truncate(len),
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
    },
  };
}
