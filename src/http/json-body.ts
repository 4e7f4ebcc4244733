import type { FastifyInstance, FastifyRequest } from 'fastify';
import { redactedExcerpt, redactTokens } from '../auth/redact-tokens.ts';
import { firstDuplicateKey } from './first-duplicate-key.ts';
import { HttpError } from './errors.ts';

/** Characters of a refused key's path an answer names at most (its end: the refused key). */
const PATH_SHOWN = 200;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

/**
 * The path (".__proto__", ".tests[0].constructor.prototype") of the first key in a parsed JSON
 * value that fastify's JSON parser refuses: a `__proto__` key, or a `constructor` object holding
 * a `prototype` key (secure-json-parse's rule); null when it holds none. JSON.parse makes such a
 * key an own member, so it is found here as the parser finds it. Iterative: a body nested deeper
 * than the call stack must not crash the answer.
 */
export function prototypeKeyPath(value: unknown): string | null {
  const stack: { node: unknown; path: string }[] = [{ node: value, path: '' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (!isObject(node)) continue;
    const children: { node: unknown; path: string }[] = [];
    if (Array.isArray(node)) {
      node.forEach((item, i) => children.push({ node: item, path: `${path}[${i}]` }));
    } else {
      for (const key of Object.keys(node)) {
        const member = node[key];
        if (key === '__proto__') return `${path}.__proto__`;
        if (key === 'constructor' && isObject(member) && Object.hasOwn(member, 'prototype')) return `${path}.constructor.prototype`;
        children.push({ node: member, path: `${path}.${key}` });
      }
    }
    // in document order: the first child is taken next
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return null;
}

type JsonParser = (req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => void;

/**
 * fastify's JSON parser, refusing what it refuses (not JSON, an empty body, a key that could set
 * an object's prototype) and a key repeated in one object (400, `body.stage: appears more than
 * once in its object`), with the refusal of a prototype key in valid JSON named as the field it
 * is (400 invalid_request, `body.__proto__: not allowed ...`) instead of fastify's "not valid JSON".
 */
export function jsonBodyParser(app: FastifyInstance): JsonParser {
  const parse = app.getDefaultJsonParser('error', 'error') as JsonParser;
  return (req, body, done) => {
    // a client that labels every request JSON sends an empty one to a route that takes no body
    // (a revoke): no body, not "a JSON body is required" from one route and "takes no body" from the next
    if (body === '' && req.routeOptions.schema?.body === undefined) return done(null, undefined);
    parse(req, body, (err, parsed) => {
      if (!err) {
        // JSON.parse keeps a repeated key's last value; a proxy, a log reader or the stored
        // copy of a test-results file may keep the first, so the two would say different things
        const repeated = firstDuplicateKey(body);
        if (repeated === null) return done(null, parsed);
        // named up to 200 characters (a deeply nested key would make a huge answer and record)
        const field = `body${redactedExcerpt(repeated, PATH_SHOWN)}`;
        return done(new HttpError(400, 'invalid_request', `${field}: appears more than once in its object`, { field }), undefined);
      }
      const path = (err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? refusedKeyIn(body) : null;
      if (path === null) return done(err, undefined);
      const clean = redactTokens(path);
      // its end, never starting with half of a surrogate pair
      const end = clean.slice(-PATH_SHOWN);
      const field = `body${clean.length > PATH_SHOWN ? `…${/^[\uDC00-\uDFFF]/.test(end) ? end.slice(1) : end}` : clean}`;
      done(new HttpError(400, 'invalid_request', `${field}: not allowed (the gate refuses a key that could set an object's prototype)`, { field }), undefined);
    });
  };
}

/** The refused key's path in a body fastify's parser refused, or null when the body is not JSON. */
function refusedKeyIn(body: string): string | null {
  try {
    // secure-json-parse drops a byte order mark before parsing; JSON.parse does not
    return prototypeKeyPath(JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body));
  } catch {
    return null;
  }
}
