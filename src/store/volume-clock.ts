import type { promises as nodeFs } from 'node:fs';

/** What volumeAgeMs needs of the file system. */
export type VolumeClockFs = Pick<typeof nodeFs, 'writeFile' | 'stat' | 'rm'>;

/**
 * How long ago `file` was last written, on the data volume's clock: its modification time against
 * that of a file written beside it just now (`probe`, removed again), both set by the file server
 * on NFS (by this host on a local disk), so never off another host's clock the way a time stamped
 * inside the file is. Null when `file` is gone.
 */
export async function volumeAgeMs(fs: VolumeClockFs, file: string, probe: string): Promise<number | null> {
  let writtenAt: number;
  try {
    writtenAt = (await fs.stat(file)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  await fs.writeFile(probe, '');
  try {
    return (await fs.stat(probe)).mtimeMs - writtenAt;
  } finally {
    await fs.rm(probe, { force: true }).catch(() => undefined);
  }
}
