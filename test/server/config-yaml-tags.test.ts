// A config file holds YAML 1.2's core types only. The YAML library resolved YAML 1.1's `!!omap`,
// `!!set` and `!!timestamp` by default into a Map, a Set or a Date, which the strict schemas took
// for an object with no keys: every setting inside one was dropped without a word, and the gate
// started on defaults (a closure it then counted open, an approval it no longer required). Such a
// tag, or a custom one, is now refused naming its line; the core tags still work.
import t from 'tap';
import { ConfigError, parseConfig } from '../../src/config.ts';

t.test('a YAML 1.1 or custom tag is refused naming its line, never silently dropped', async (t) => {
  const cases: [string, RegExp][] = [
    ['market: !!omap [{extraClosures: ["2027-01-08"]}]\n', /Unresolved tag: tag:yaml\.org,2002:omap at line 1, column 9/],
    ['stages:\n  paper: !!omap [{requireApproval: true}]\n', /Unresolved tag: tag:yaml\.org,2002:omap at line 2, column 10/],
    ['audit: !!set {fsync}\n', /Unresolved tag: tag:yaml\.org,2002:set at line 1/],
    ['!!omap [{audit: {fsync: false}}, {port: 9090}]\n', /Unresolved tag: tag:yaml\.org,2002:omap at line 1, column 1/],
    ['market:\n  extraClosures: [!!timestamp 2027-01-08]\n', /Unresolved tag: tag:yaml\.org,2002:timestamp at line 2/],
    ['port: !port 9090\n', /Unresolved tag: !port at line 1/],
    // a %YAML 1.1 directive does not bring YAML 1.1's types back
    ['%YAML 1.1\n---\nmarket: !!omap [{extraClosures: ["2027-01-08"]}]\n', /Unresolved tag: tag:yaml\.org,2002:omap at line 3, column 9/],
    ['%YAML 1.1\n---\nstages:\n  paper: !!omap [{requireApproval: true}]\n', /Unresolved tag: tag:yaml\.org,2002:omap at line 4/],
  ];
  for (const [yaml, message] of cases) {
    t.throws(() => parseConfig({ GATE_CONFIG: '/etc/gate.yaml' }, yaml), ConfigError, `${JSON.stringify(yaml)}: refused`);
    t.throws(() => parseConfig({ GATE_CONFIG: '/etc/gate.yaml' }, yaml), { message: new RegExp(`^config file /etc/gate\\.yaml is not valid YAML: ${message.source}`) }, `${JSON.stringify(yaml)}: naming the tag and its line`);
  }
});

t.test('under a %YAML 1.1 directive, YAML 1.1\'s implicit types stay plain: yes is not true', async (t) => {
  t.throws(() => parseConfig({}, '%YAML 1.1\n---\nstages:\n  paper: { requireApproval: yes }\n'), { message: /stages\.paper\.requireApproval/ }, 'yes is a string, refused where a boolean goes');
  t.same(parseConfig({}, '%YAML 1.1\n---\nmarket:\n  extraClosures: [2027-01-08]\n').market.extraClosures.map((x) => x.date), ['2027-01-08'], 'a date stays its text');
});

t.test('the core schema\'s own tags still resolve', async (t) => {
  const c = parseConfig({}, 'port: !!int "9090"\nmarket:\n  extraClosures: [!!str 2027-01-08]\nstages: !!map\n  paper: { requireApproval: !!bool "true" }\n');
  t.equal(c.port, 9090);
  t.same(c.market.extraClosures.map((x) => x.date), ['2027-01-08']);
  t.equal(c.stages.paper.requireApproval, true);
});
