import fc from 'fast-check';
import t from 'tap';
import { firstDuplicateKey } from '../../src/http/first-duplicate-key.ts';

t.test('names the first key repeated in one object, by its path', async (t) => {
  const cases: [string, string | null][] = [
    ['{"exitCode":1,"failed":3,"exitCode":0}', '.exitCode'],
    ['{"tests":{"failed":2,"passed":5,"failed":0}}', '.tests.failed'],
    ['[{"a":1},{"b":1,"b":2}]', '[1].b'],
    ['{"suites":[[],[{"x":[1,2]},{"name":"a","name":"b"}]]}', '.suites[1][1].name'],
    ['{"a":1,"\\u0061":2}', '.a'], // one key, spelt two ways
    // look-alikes that are not repeats
    ['{"a":{"a":{"a":1}}}', null],
    ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', null],
    ['{"a":"\\"a\\":1,\\"a\\":2","b":"{,}[,]"}', null], // quotes, commas and brackets inside strings
    ['{"a\\\\":1,"a":2}', null], // a\ and a
    ['["a","a",{"a":1}]', null], // repeated values, not keys
    ['{}', null],
    ['"x"', null],
    ['\ufeff{"a":1}', null],
  ];
  for (const [text, path] of cases) t.equal(firstDuplicateKey(text), path, text);
});

t.test('any JSON.stringify output has none; a member repeated anywhere is found at its path', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => firstDuplicateKey(JSON.stringify(v, null, 1)) === null),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), fc.nat(), fc.jsonValue(), (obj, pick, extra) => {
      const keys = Object.keys(obj);
      const key = keys[pick % keys.length]!;
      const text = JSON.stringify({ outer: [obj] });
      // the repeated member goes last in the inner object
      const doubled = `${text.slice(0, -3)},${JSON.stringify(key)}:${JSON.stringify(extra)}}]}`;
      return firstDuplicateKey(doubled) === `.outer[0].${key}`;
    }),
    { numRuns: 500 },
  );
});
