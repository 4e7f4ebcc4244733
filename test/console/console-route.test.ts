import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import t from 'tap';
import type { RouteContext } from '../../src/routes/context.ts';
import { CONSOLE_HEADERS, consoleRoutes, findConsoleDir } from '../../src/routes/console.ts';
import { buildTestApp } from '../helpers/build-app.ts';
import { REPO_ROOT } from '../helpers/spawn-gate.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const CONSOLE_DIR = join(REPO_ROOT, 'src', 'console');

t.test('GET / serves the console with the security headers', async (t) => {
  const g = await buildTestApp(t);
  const res = await g.app.inject({ url: '/' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/html; charset=utf-8/);
  for (const [k, v] of Object.entries(CONSOLE_HEADERS)) t.equal(res.headers[k], v, k);
  const csp = String(res.headers['content-security-policy']);
  for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) t.match(csp, directive);
  t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:/, 'no inline script or style, no other origin');
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.body, /<script type="module" src="console\/console.js"><\/script>/);
  t.notMatch(res.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  t.notMatch(res.body, /\bstyle=|\bon[a-z]+=/i, 'no inline style or event handler attributes (the CSP would block them)');
  t.notMatch(res.body, /<input[^>]*\bname=/, 'inputs carry no name: a form can never put a token into a URL, even without the script');
});

t.test('every other answer: nosniff and a policy that loads nothing, unknown paths and errors included', async (t) => {
  const g = await buildTestApp(t);
  for (const url of ['/v1/status', '/openapi.json', '/healthz', '/index.html', '/console/a/b', '/v1/decisions']) {
    const res = await g.app.inject({ url });
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url} (${res.statusCode}): nosniff`);
    t.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${url}: loads nothing, never framed`);
  }
  const page = await g.app.inject({ url: '/' });
  t.match(String(page.headers['content-security-policy']), "script-src 'self'", 'the console keeps its own policy');
});

t.test('the assets: every module the page imports is served; nothing else is', async (t) => {
  const g = await buildTestApp(t);
  const files = (await readdir(CONSOLE_DIR)).filter((f) => /\.(js|css)$/.test(f));
  t.ok(files.includes('console.js') && files.includes('console.css'));
  for (const f of files) {
    const res = await g.app.inject({ url: `/console/${f}` });
    t.equal(res.statusCode, 200, f);
    t.match(res.headers['content-type'], f.endsWith('.js') ? /^text\/javascript/ : /^text\/css/, `${f} type`);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.equal(res.body, await readFile(join(CONSOLE_DIR, f), 'utf8'), `${f} served as it is`);
    t.notMatch(res.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${f}: no external URL (no CDN)`);
    t.notMatch(res.body, /\.innerHTML\s*=|insertAdjacentHTML|document\.write|eval\(|new Function/, `${f}: no HTML parsing of data`);
    t.notMatch(res.body, /\blocalStorage\s*[.[]|console\.(log|info|debug)/, `${f}: no localStorage, no logging`);
    for (const m of res.body.matchAll(/from '\.\/([a-z-]+\.js)'/g)) t.ok(files.includes(m[1]!), `${f} imports ${m[1]}, which exists`);
  }
  const refused = ['/console/../package.json', '/console/%2e%2e%2fpackage.json', '/console/index.html', '/console/nope.js', '/console/Console.js', '/console/.env', '/console/console.js.map'];
  for (const url of refused) {
    const res = await g.app.inject({ url });
    t.equal(res.statusCode, 404, url);
    t.equal(res.json().error, 'not_found', url);
  }
});

t.test('findConsoleDir: from source, from dist (built copy first), or nowhere', async (t) => {
  t.equal(findConsoleDir(join(REPO_ROOT, 'src', 'routes')), CONSOLE_DIR, 'running from source');
  const root = await tempDir(t, 'gate-console-dir-');
  await mkdir(join(root, 'dist', 'routes'), { recursive: true });
  t.equal(findConsoleDir(join(root, 'dist', 'routes')), null, 'no files anywhere');
  await mkdir(join(root, 'src', 'console'), { recursive: true });
  await writeFile(join(root, 'src', 'console', 'index.html'), '<!doctype html>');
  t.equal(findConsoleDir(join(root, 'dist', 'routes')), join(root, 'src', 'console'), 'dist without a copy: the source tree');
  await mkdir(join(root, 'dist', 'console'), { recursive: true });
  await writeFile(join(root, 'dist', 'console', 'index.html'), '<!doctype html>');
  t.equal(findConsoleDir(join(root, 'dist', 'routes')), join(root, 'dist', 'console'), 'the image layout: dist/console');
});

t.test('without the files the gate still runs and GET / says why', async (t) => {
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  t.teardown(() => app.close());
  await app.register(consoleRoutes({} as RouteContext, null));
  const res = await app.inject({ url: '/' });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { error: 'console_unavailable' });
  t.equal((await app.inject({ url: '/console/console.js' })).statusCode, 503);
});

t.test('GET /v1/console/settings: the limits the API enforces, public', async (t) => {
  const g = await buildTestApp(t);
  const s = (await g.app.inject({ url: '/v1/console/settings' })).json();
  t.same(s, {
    project: 'stonks-pipeline',
    authMode: 'local',
    proxyAuth: false,
    pollMs: 2000,
    stages: ['ci', 'integration', 'beta', 'paper', 'live'],
    breakGlass: { stages: ['paper', 'live'], justificationMin: 20, justificationMax: 2000, defaultTtlMinutes: 30, maxTtlMinutes: 240 },
    approvals: { stages: ['live'], notesMin: 10, notesMax: 4000, ttlHours: 24 },
    toggles: { noteMin: 3, noteMax: 1000 },
  });
  const p = await buildTestApp(t, { configYaml: 'proxyAuth: { trustedCidrs: ["10.0.0.0/8"] }\nstages: { paper: { marketHours: null } }\n' });
  const ps = (await p.app.inject({ url: '/v1/console/settings' })).json();
  t.equal(ps.proxyAuth, true, 'says a proxy identity header may be trusted');
  t.same(ps.breakGlass.stages, ['live'], 'break-glass only where market hours hold promotions');
  // the minimum shown is the one enforced
  const short = await g.as('operator', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc', justification: 'x'.repeat(s.breakGlass.justificationMin - 1) } });
  t.equal(short.statusCode, 400);
  const enough = await g.as('operator', { method: 'POST', url: '/v1/break-glass', payload: { project: 'stonks-pipeline', stage: 'paper', imageTag: 'abc', justification: 'x'.repeat(s.breakGlass.justificationMin) } });
  t.equal(enough.statusCode, 201);
});

t.test('GET /v1/whoami: who, how, and what each role may do', async (t) => {
  const g = await buildTestApp(t);
  const cases: [string, Record<string, boolean>][] = [
    ['operator', { breakglassgrants: true, approvals: false, stagetoggles: false, decisions: false, testresults: false, auditrecords: true }],
    ['approver', { breakglassgrants: false, approvals: true, stagetoggles: false, auditrecords: true }],
    ['admin', { breakglassgrants: true, approvals: true, stagetoggles: true, decisions: true, testresults: true, auditrecords: true }],
    ['caller', { decisions: true, breakglassgrants: false, auditrecords: false }],
    ['ci', { testresults: true, approvals: false, auditrecords: false }],
    ['auditor', { auditrecords: true, decisions: false, breakglassgrants: false, 'breakglassgrants.delete': false, approvals: false, 'approvals.delete': false, stagetoggles: false, testresults: false }],
  ];
  for (const [role, can] of cases) {
    const res = await g.as(role, { url: '/v1/whoami' });
    t.equal(res.statusCode, 200, role);
    t.match(res.json(), { name: role, groups: [role], via: 'local-token', mode: 'local', can }, role);
  }
  const before = g.audit.head().seq;
  t.equal((await g.as(null, { url: '/v1/whoami' })).statusCode, 401);
  t.equal((await g.as('gate_not-a-token', { url: '/v1/whoami' })).statusCode, 401);
  t.equal(g.audit.head().seq, before + 2, 'refusals are audited like any other');
});

t.test('the OpenAPI document lists the console routes', async (t) => {
  const g = await buildTestApp(t);
  const doc = (await g.app.inject({ url: '/openapi.json' })).json();
  for (const path of ['/', '/v1/whoami', '/v1/audit/verify', '/v1/console/settings']) t.ok(doc.paths[path]?.get, path);
  // its own answer, not only the errors every route can give (which would leave it no success)
  t.ok(doc.paths['/'].get.responses['200']?.content?.['text/html'], 'GET /: 200 text/html documented');
  for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, unknown> }>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) t.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${method.toUpperCase()} ${path}: a 2xx answer documented`);
  }
  const page = await g.app.inject({ url: '/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<!doctype html>/i, 'the page is still served as it is');
});
