import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { canonicalCopy, canonicalJson, hashRecord, SlowPathNeeded } from '../../src/audit/canonical-json.ts';
import { GENESIS_HASH } from '../../src/audit/event.ts';

t.test('canonicalJson', async (t) => {
  const cases: { name: string; value: unknown; want: string }[] = [
    { name: 'keys sorted', value: { b: 1, a: 2, c: 3 }, want: '{"a":2,"b":1,"c":3}' },
    { name: 'nested keys sorted, arrays in order', value: { z: [3, { y: 1, x: 2 }, 1], a: { d: null, c: 'x' } }, want: '{"a":{"c":"x","d":null},"z":[3,{"x":2,"y":1},1]}' },
    { name: 'no whitespace, strings escaped', value: { 'k"ey': 'line\nbreak "q"' }, want: '{"k\\"ey":"line\\nbreak \\"q\\""}' },
    { name: 'undefined members dropped, undefined array items null', value: { a: undefined, b: [undefined, 1] }, want: '{"b":[null,1]}' },
    { name: 'non-finite numbers are null', value: [Number.NaN, Infinity, -0, 1.5e300], want: '[null,null,0,1.5e+300]' },
    { name: 'toJSON honoured (Date)', value: { at: new Date('2026-11-26T00:00:00Z') }, want: '{"at":"2026-11-26T00:00:00.000Z"}' },
    { name: 'code-unit key order', value: { b: 1, B: 2, é: 3, a10: 4, a9: 5 }, want: '{"B":2,"a10":4,"a9":5,"b":1,"é":3}' },
    { name: 'scalars', value: 'x', want: '"x"' },
    { name: 'empty containers', value: { a: {}, b: [] }, want: '{"a":{},"b":[]}' },
    { name: '-0 is 0', value: { a: -0, b: [-0] }, want: '{"a":0,"b":[0]}' },
    { name: 'boxed primitives are their values', value: { n: new Number(5), s: new String('x'), b: new Boolean(false), i: new Number(Infinity) }, want: '{"b":false,"i":null,"n":5,"s":"x"}' },
    { name: 'toJSON gets the member key, once', value: { k: { toJSON: (k: string) => k }, a: [{ toJSON: (k: string) => `item ${k}` }], o: { toJSON: () => ({ toJSON: () => 'again' }) } }, want: '{"a":["item 0"],"k":"k","o":{}}' },
    { name: 'the same on the slow path (index-like keys)', value: { '10': { toJSON: (k: string) => k }, '9': new Number(-0) }, want: '{"10":"10","9":0}' },
  ];
  for (const c of cases) t.equal(canonicalJson(c.value), c.want, c.name);

  t.test('same value, any key order: same text', async (t) => {
    t.equal(canonicalJson({ a: 1, b: { c: 2, d: 3 } }), canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  t.test('agrees with JSON.parse(JSON.stringify()) on content', async (t) => {
    const v = { b: [1, 'two', { three: 3 }], a: { nested: true, n: null } };
    t.same(JSON.parse(canonicalJson(v)), JSON.parse(JSON.stringify(v)));
  });

  t.test('refuses what JSON cannot hold', async (t) => {
    t.throws(() => canonicalJson({ n: 1n }), TypeError);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    t.throws(() => canonicalJson(loop), TypeError);
  });

  t.test('a shared (non-circular) object twice is fine', async (t) => {
    const shared = { x: 1 };
    t.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
  });
});

t.test('hashRecord = sha256(prev + canonical JSON without hash)', async (t) => {
  const rec = { seq: 1, b: 'x', a: [1] };
  const want = createHash('sha256').update(GENESIS_HASH + '{"a":[1],"b":"x","seq":1}').digest('hex');
  t.equal(hashRecord(GENESIS_HASH, rec), want);
  t.equal(hashRecord(GENESIS_HASH, { ...rec, hash: 'ignored' }), want, 'hash member ignored');
  t.not(hashRecord('1'.repeat(64), rec), want, 'prev is part of the hash');
  t.not(hashRecord(GENESIS_HASH, { ...rec, b: 'y' }), want, 'content is part of the hash');
});

// An independent reference: sort every object's keys (by UTF-16 code unit) and write the text by
// hand. The fast path (native JSON.stringify with a sorting replacer) and its fallback for
// index-like keys must agree with it on any JSON value.
function reference(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : reference(x))).join(',')}]`;
  const rec = v as Record<string, unknown>;
  const keys = Object.keys(rec).filter((k) => rec[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(rec[k])}`).join(',')}}`;
}

t.test('property: canonicalJson equals the reference on arbitrary JSON, index-like keys included', async (t) => {
  const key = fc.oneof(fc.string(), fc.constantFrom('0', '1', '10', '9', '01', '4294967295', '-1', '__proto__x', 'hash', 'id'));
  const value = fc.letrec((tie) => ({
    json: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), tie('arr'), tie('obj')),
    arr: fc.array(tie('json'), { maxLength: 4 }),
    obj: fc.dictionary(key, tie('json'), { maxKeys: 5 }),
  })).json;
  fc.assert(
    fc.property(value, (v) => canonicalJson(v) === reference(v)),
    { numRuns: 2000 },
  );
  t.pass('2,000 random values agree');
});

t.test('canonicalCopy: a plain copy the native serialiser writes canonically', async (t) => {
  const when = new Date('2026-11-26T00:00:00Z');
  const input = { b: [1, undefined, { d: 1, c: when }], a: { y: undefined, x: Number.NaN, f: () => 1 } };
  const copy = canonicalCopy(input) as Record<string, unknown>;
  t.strictSame(copy, { a: { x: null }, b: [1, null, { c: '2026-11-26T00:00:00.000Z', d: 1 }] }, 'JSON form: toJSON, undefined, functions, NaN');
  t.equal(JSON.stringify(copy), canonicalJson(input), 'native text is the canonical text');
  t.not(copy['b'], input.b, 'arrays are copied');
  t.not((copy['b'] as unknown[])[2], input.b[2], 'nested objects are copied');
  t.equal(canonicalCopy(undefined), undefined, 'no JSON form at the top');
  t.ok(Object.is((canonicalCopy({ z: -0 }) as { z: number }).z, 0), 'the copy holds 0 where the text says 0');
  t.strictSame(canonicalCopy({ n: new Number(2), s: new String('y') }), { n: 2, s: 'y' }, 'boxed primitives unboxed in the copy');
  const proto = canonicalCopy(JSON.parse('{"__proto__":{"x":1},"a":1}')) as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(proto), Object.prototype, '"__proto__" stays an own member, not the prototype');
  t.equal(JSON.stringify(proto), '{"__proto__":{"x":1},"a":1}');
  t.throws(() => canonicalCopy({ n: 1n }), TypeError, 'BigInt');
  const slow = (fn: () => unknown) => {
    try {
      fn();
      return false;
    } catch (err) {
      return err instanceof SlowPathNeeded;
    }
  };
  t.ok(slow(() => canonicalCopy({ a: { '10': 1, '9': 2 } })), 'index-like keys need the slow path');
  const loop: Record<string, unknown> = {};
  loop['self'] = loop;
  t.ok(slow(() => canonicalCopy(loop)), 'a cycle is cut at the depth bound');
});

t.test('property: JSON.stringify(canonicalCopy(v)) is the reference text and the copy is JSON.parse of it', async (t) => {
  // index-like keys take the slow path (tested above and by the property before)
  const key = fc.oneof(fc.string().filter((k) => !/^(0|[1-9]\d*)$/.test(k)), fc.constantFrom('__proto__', 'hash', 'id', 'a10', 'a9'));
  const value = fc.letrec((tie) => ({
    json: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.date({ noInvalidDate: true }),
      tie('arr'),
      tie('obj'),
    ),
    arr: fc.array(tie('json'), { maxLength: 4 }),
    obj: fc.dictionary(key, tie('json'), { maxKeys: 5 }),
  })).json;
  let checked = 0;
  fc.assert(
    fc.property(value, (v) => {
      const copy = canonicalCopy(v);
      const text = JSON.stringify(copy);
      if (text === undefined) return v === undefined;
      checked += 1;
      return text === canonicalJson(v) && text === reference(JSON.parse(JSON.stringify(v) ?? 'null')) && JSON.stringify(JSON.parse(text)) === text;
    }),
    { numRuns: 2000 },
  );
  t.ok(checked > 1500, `${checked} of 2,000 random values checked`);
});
