// Worker-thread entry of verifyAuditLogInWorker: walks the chain of workerData.dir and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { verifyAuditLog } from './verify.ts';

parentPort?.postMessage(await verifyAuditLog((workerData as { dir: string }).dir));
