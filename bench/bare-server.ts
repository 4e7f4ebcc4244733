// The baseline for bench/run.ts: a bare fastify route answering a fixed JSON body of the same
// size as a real decision answer. No validation, no audit. Prints "listening <url>".
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const body = readFileSync(process.argv[2] as string, 'utf8');
const app = Fastify({ logger: false });
app.post('/bare', async (_req, reply) => reply.type('application/json; charset=utf-8').send(body));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${url}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
