// Worker-thread entry of verifyAuditLogInWorker: walks the chain of workerData.dir and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { verifyAuditLog } from './verify.ts';

const { dir, archivedThrough } = workerData as { dir: string; archivedThrough?: number };
parentPort?.postMessage(await verifyAuditLog(dir, undefined, { archivedThrough }));
