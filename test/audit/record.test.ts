import t from 'tap';
import { canonicalJson, canonicalMembers, hashRecord, joinMembers } from '../../src/audit/canonical-json.ts';
import { GENESIS_HASH } from '../../src/audit/event.ts';
import { parseEntries, sealRecord } from '../../src/audit/record.ts';
import { entry } from './helpers.ts';

t.test('joinMembers(canonicalMembers(x)) is canonicalJson(x); skipKey leaves one member out', async (t) => {
  const values = [{ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }, { only: 'x' }, {}, { u: undefined, s: 'y' }];
  for (const v of values) {
    t.equal(joinMembers(canonicalMembers(v)), canonicalJson(v));
    const { b: _b, ...rest } = v as Record<string, unknown>;
    t.equal(joinMembers(canonicalMembers(v), 'b'), canonicalJson(rest));
  }
});

t.test('sealRecord: v, seq, prev, hash = hashRecord, line = canonical JSON + newline', async (t) => {
  const cases = [
    { name: 'genesis', e: entry(1), seq: 1, prev: GENESIS_HASH },
    { name: 'later record', e: entry(2, { type: 'stage.toggled', decision: null, stage: null }), seq: 42, prev: 'ab'.repeat(32) },
    { name: 'nested data with odd keys', e: entry(3, { data: { z: 1, 'a b': [{ y: 1, x: 2 }], '10': 'ten', '9': 'nine' } }), seq: 7, prev: 'cd'.repeat(32) },
  ];
  for (const c of cases) {
    const { record, line } = sealRecord(c.e, c.seq, c.prev);
    t.equal(record.v, 1, c.name);
    t.equal(record.seq, c.seq, c.name);
    t.equal(record.prev, c.prev, c.name);
    t.equal(record.hash, hashRecord(c.prev, record), `${c.name}: hash`);
    t.equal(line, `${canonicalJson(record)}\n`, `${c.name}: line`);
    t.same(JSON.parse(line), record, `${c.name}: line parses back to the record`);
    // the same entry checked by parseEntries takes the native-serialiser path: same record, same line
    const [checked] = parseEntries([c.e]);
    const fast = sealRecord(checked!, c.seq, c.prev);
    t.equal(fast.line, line, `${c.name}: parsed entry, same line`);
    t.strictSame(fast.record, JSON.parse(line), `${c.name}: parsed entry, record is what a read gives back`);
  }
  const { line } = sealRecord(cases[2]!.e, 7, 'cd'.repeat(32));
  t.match(line, /"data":\{"10":"ten","9":"nine","a b":\[\{"x":2,"y":1\}\],"z":1\}/, 'code-unit order even for integer-like keys');
});

t.test('parseEntries', async (t) => {
  const cases: { name: string; input: unknown[]; error?: RegExp; check?: (out: unknown[]) => void }[] = [
    { name: 'valid entries pass unchanged', input: [entry(1), entry(2)], check: (out) => t.same(out, [entry(1), entry(2)]) },
    {
      name: 'to plain JSON, unknown keys dropped',
      input: [{ ...entry(1), data: { at: new Date(0), u: undefined }, extra: 'x' }],
      check: (out) => {
        t.same((out[0] as { data: unknown }).data, { at: '1970-01-01T00:00:00.000Z' });
        t.notOk('extra' in (out[0] as object));
      },
    },
    { name: 'unknown type', input: [{ ...entry(1), type: 'nope' }], error: /entry 0 does not match/ },
    { name: 'missing member', input: [entry(1), { ...entry(2), stage: undefined }], error: /entry 1 does not match/ },
    { name: 'no JSON form', input: [{ ...entry(1), data: { n: 1n } }], error: /entry 0 has no JSON form/ },
    {
      name: 'index-like keys (the general path): unknown top-level keys dropped there too',
      input: [{ ...entry(1), data: { '10': 'ten', '9': 'nine' }, seq: 999, v: 7, prev: 'x', hash: 'y', extra: 'x' }],
      check: (out) => {
        for (const k of ['seq', 'v', 'prev', 'hash', 'extra']) t.notOk(k in (out[0] as object), `no ${k}`);
        const { record, line } = sealRecord(out[0] as never, 5, GENESIS_HASH);
        t.match(JSON.parse(line), { seq: 5, v: 1, prev: GENESIS_HASH, data: { '10': 'ten', '9': 'nine' } }, 'sealed with its own seq, v and prev');
        t.equal(line, `${canonicalJson(record)}\n`);
      },
    },
    {
      name: 'JSON forms as JSON.stringify gives them: -0, boxed values, toJSON with its key',
      input: [{ ...entry(1), data: { z: -0, n: new Number(3), k: { toJSON: (k: string) => `key ${k}` } } }],
      check: (out) => {
        const data = (out[0] as { data: Record<string, unknown> }).data;
        t.strictSame(data, { k: 'key k', n: 3, z: 0 });
        t.ok(Object.is(data['z'], 0));
        const { record, line } = sealRecord(out[0] as never, 1, GENESIS_HASH);
        t.strictSame(record, JSON.parse(line), 'the record is what a read gives back');
      },
    },
  ];
  for (const c of cases) {
    if (c.error) t.throws(() => parseEntries(c.input as never), { name: 'TypeError', message: c.error }, c.name);
    else c.check!(parseEntries(c.input as never));
  }
  t.throws(() => parseEntries('x' as never), TypeError, 'not an array');
});
