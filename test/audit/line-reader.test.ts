import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeAuditFs } from '../../src/audit/audit-fs.ts';
import { findLineStartAtOrAfterSeq, readLinesBackward, readLinesForward } from '../../src/audit/line-reader.ts';

/** lines {"seq":n,"pad":"..."} of varying length (some longer than the small chunks), offsets kept */
function makeFile(dir: string, count: number, firstSeq = 1): { path: string; size: number; starts: number[]; lines: string[] } {
  const lines: string[] = [];
  const starts: number[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const line = JSON.stringify({ seq: firstSeq + i, pad: 'x'.repeat((i * 53) % 700) });
    starts.push(off);
    lines.push(line);
    off += Buffer.byteLength(line) + 1;
  }
  const path = join(dir, 'lines.jsonl');
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return { path, size: off, starts, lines };
}

const CHUNKS = [16, 100, 1024, 65536];

t.test('readLinesBackward / readLinesForward, any chunk size', async (t) => {
  const dir = t.testdir();
  const contents: { name: string; text: string; lines: { text: string; terminated: boolean }[] }[] = [
    { name: 'empty', text: '', lines: [] },
    { name: 'one line', text: 'abc\n', lines: [{ text: 'abc', terminated: true }] },
    { name: 'no final newline', text: 'a\nbb\nccc', lines: [{ text: 'a', terminated: true }, { text: 'bb', terminated: true }, { text: 'ccc', terminated: false }] },
    { name: 'empty lines', text: '\n\nx\n', lines: [{ text: '', terminated: true }, { text: '', terminated: true }, { text: 'x', terminated: true }] },
    { name: 'multibyte text across chunk edges', text: `${'é'.repeat(40)}\n${'日本'.repeat(30)}\n`, lines: [{ text: 'é'.repeat(40), terminated: true }, { text: '日本'.repeat(30), terminated: true }] },
    { name: 'a long line', text: `s\n${'L'.repeat(5000)}\ne\n`, lines: [{ text: 's', terminated: true }, { text: 'L'.repeat(5000), terminated: true }, { text: 'e', terminated: true }] },
  ];
  for (const c of contents) {
    const path = join(dir, `${c.name.replaceAll(' ', '-')}.txt`);
    writeFileSync(path, c.text);
    const size = Buffer.byteLength(c.text);
    const fh = await nodeAuditFs.open(path, 'r');
    for (const chunk of CHUNKS) {
      const fwd = [];
      for await (const l of readLinesForward(fh, 0, size, chunk)) fwd.push(l);
      const back = [];
      for await (const l of readLinesBackward(fh, size, chunk)) back.push(l);
      t.same(fwd.map((l) => ({ text: l.text, terminated: l.terminated })), c.lines, `${c.name}, chunk ${chunk}: forward`);
      t.same(back, [...fwd].reverse(), `${c.name}, chunk ${chunk}: backward gives the same spans in reverse`);
      let off = 0;
      for (const l of fwd) {
        t.equal(l.start, off, `${c.name}, chunk ${chunk}: spans are contiguous`);
        off = l.end;
      }
      t.equal(off, size, `${c.name}, chunk ${chunk}: spans cover the file`);
    }
    await fh.close();
  }
});

t.test('readLinesBackward with a floor reads only above it and gives only the lines known to begin there', async (t) => {
  const dir = t.testdir();
  const f = makeFile(dir, 120);
  const fh = await nodeAuditFs.open(f.path, 'r');
  const read: number[] = [];
  const counting = { ...fh, read: (b: Buffer, o: number, l: number, p: number) => (read.push(p), fh.read(b, o, l, p)) } as typeof fh;
  for (const chunk of CHUNKS) {
    for (const floor of [0, 1, f.starts[60]!, f.starts[60]! + 1, f.size - 1, f.size]) {
      read.length = 0;
      const got = [];
      for await (const l of readLinesBackward(counting, f.size, chunk, floor)) got.push(l);
      // a line starting exactly at the floor is left out too: the byte before it is not read
      const expected = f.starts.map((start, i) => ({ start, i })).filter(({ start }) => floor === 0 ? true : start > floor).reverse();
      t.same(got.map((l) => l.start), expected.map((e) => e.start), `chunk ${chunk}, floor ${floor}: the lines above the floor, newest first`);
      t.same(got.map((l) => l.text), expected.map((e) => f.lines[e.i]), `chunk ${chunk}, floor ${floor}: their text`);
      t.ok(read.every((p) => p >= floor), `chunk ${chunk}, floor ${floor}: nothing below the floor read`);
    }
  }
  await fh.close();
});

t.test('findLineStartAtOrAfterSeq finds every line, whatever the chunk', async (t) => {
  const dir = t.testdir();
  const f = makeFile(dir, 300, 11);
  const fh = await nodeAuditFs.open(f.path, 'r');
  t.teardown(() => fh.close());
  for (const chunk of CHUNKS) {
    const wrong: string[] = [];
    for (let seq = 0; seq <= 320; seq++) {
      const want = seq <= 11 ? 0 : seq > 310 ? f.size : f.starts[seq - 11]!;
      const got = await findLineStartAtOrAfterSeq(fh, f.size, seq, chunk);
      if (got !== want) wrong.push(`seq ${seq}: ${got} != ${want}`);
    }
    t.same(wrong, [], `chunk ${chunk}: all 321 targets`);
    const end = f.starts[150]!; // a shorter range: only lines below seq 161
    t.equal(await findLineStartAtOrAfterSeq(fh, end, 200, chunk), end, `chunk ${chunk}: target beyond the range gives its end`);
    t.equal(await findLineStartAtOrAfterSeq(fh, end, 100, chunk), f.starts[89]!, `chunk ${chunk}: inside a range`);
  }
});

t.test('findLineStartAtOrAfterSeq past damaged lines: the same answer, whether it steps over them or gives up on a long run and scans the rest of its range', async (t) => {
  const dir = t.testdir();
  const f = makeFile(dir, 300, 11);
  // runs of lines that do not parse (same length, so every offset stays): single ones, a run of
  // 40, the first line and the last
  const damaged = new Set([0, 1, 57, 120, 121, 122, ...Array.from({ length: 40 }, (_, i) => 180 + i), 299]);
  const bytes = readFileSync(f.path);
  for (const i of damaged) bytes.fill('#'.charCodeAt(0), f.starts[i]!, f.starts[i]! + Buffer.byteLength(f.lines[i]!));
  writeFileSync(f.path, bytes);
  const fh = await nodeAuditFs.open(f.path, 'r');
  t.teardown(() => fh.close());
  for (const chunk of CHUNKS) {
    for (const maxDamaged of [Number.POSITIVE_INFINITY, 3, 0]) {
      const wrong: string[] = [];
      for (let seq = 0; seq <= 320; seq++) {
        // the first line that parses with a seq >= the target
        let want = f.size;
        for (let i = 0; i < f.lines.length; i++) {
          if (!damaged.has(i) && 11 + i >= seq) {
            want = f.starts[i]!;
            break;
          }
        }
        const got = await findLineStartAtOrAfterSeq(fh, f.size, seq, chunk, maxDamaged);
        if (got !== want) wrong.push(`seq ${seq}: ${got} != ${want}`);
      }
      t.same(wrong, [], `chunk ${chunk}, at most ${maxDamaged} damaged lines stepped over: all 321 targets`);
    }
  }
});
