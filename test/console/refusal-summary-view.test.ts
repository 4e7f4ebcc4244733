// The console's history names who a refusal summary is about: a client's address, or an
// identity (data.identity) with the addresses its requests came from (it said "from ?" for an
// identity's summary, which has no data.remoteAddress). views.js is the browser's plain JS; a
// minimal DOM stands in for the page.
import t from 'tap';

// a minimal DOM: enough for h() and icon() to build nodes whose textContent can be read
class FakeNode {
  children: FakeNode[] = [];
  dataset: Record<string, string> = {};
  text = '';
  tag: string;
  constructor(tag: string) { this.tag = tag; }
  setAttribute() {}
  addEventListener() {}
  append(...c: FakeNode[]) { this.children.push(...c); }
  get textContent(): string { return this.text + this.children.map((c) => c.textContent).join(''); }
}
class FakeText extends FakeNode { constructor(s: string) { super('#text'); this.text = s; } }
(globalThis as any).Node = FakeNode;
(globalThis as any).document = {
  createElement: (tag: string) => new FakeNode(tag),
  createElementNS: (_ns: string, tag: string) => new FakeNode(tag),
  createTextNode: (s: string) => new FakeText(s),
};

t.test('a refusal summary names who: an identity (with its addresses), the shared window\'s names, or a client\'s address', async (t) => {
  const views = '../../src/console/views.js'; // plain JS of the browser: imported by a computed path
  const { auditTable } = (await import(views)) as { auditTable: (records: unknown[]) => unknown[] };
  const record = {
    v: 1, seq: 9, at: '2026-11-25T15:01:00.000Z', type: 'refusal', id: 'req_x',
    actor: { name: 'gate', groups: [], via: 'system' },
    requestedBy: null, project: 'p', stage: null, imageTag: null, promotion: null, decision: null,
    reasons: [{ code: 'refusals_summarised', message: '37 more refusals of system:serviceaccount:arc-runners:default (kubernetes) ...' }],
    breakGlass: null, approval: null,
    data: { suppressed: 37, byError: { '403 forbidden': 37 }, presented: ['system:serviceaccount:arc-runners:default'], identity: { name: 'system:serviceaccount:arc-runners:default', via: 'kubernetes' }, remoteAddresses: ['10.42.3.7'], from: 'a', to: 'b' },
    prev: '0'.repeat(64), hash: '1'.repeat(64),
  };
  const [table] = auditTable([record]) as unknown as FakeNode[];
  const text = table!.textContent;
  t.match(text, '37 refusals of system:serviceaccount:arc-runners:default (kubernetes) counted, not recorded one by one', 'the headline names the identity');
  t.notMatch(text, 'from ?', 'not "from ?"');
  t.match(text, '(37 × 403 forbidden; from 10.42.3.7)', 'then the errors and the addresses');
  const shared = { ...record, data: { ...record.data, identity: null, presented: ['sa-1', 'sa-2'] } };
  const [sharedTable] = auditTable([shared]) as unknown as FakeNode[];
  t.match(sharedTable!.textContent, '37 refusals of sa-1, sa-2 counted, not recorded one by one', 'the shared window: the first names');
  const client = { ...record, data: { suppressed: 5, byError: { '401 unauthorized': 5 }, presented: ['anonymous'], remoteAddress: '10.0.0.9', from: 'a', to: 'b' } };
  const [clientTable] = auditTable([client]) as unknown as FakeNode[];
  t.match(clientTable!.textContent, '5 refusals from 10.0.0.9 counted, not recorded one by one (5 × 401 unauthorized)', 'a client\'s summary: its address');
});
