import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseConfig, readConfigFile, unknownGateEnv } from '../../src/config.ts';
import { tempDir } from '../helpers/temp-dir.ts';

t.test('market extras are checked by parseConfig, naming the key market.extraClosures[i] / market.extraEarlyCloses[i]', async (t) => {
  const bad: [string, string, RegExp][] = [
    ['impossible date', 'market:\n  extraClosures: ["2027-13-45"]\n', /^invalid config file gate\.yaml: market\.extraClosures\[0\]: date must be a real yyyy-MM-dd date \{"date":"2027-13-45"\}$/],
    ['second entry, year outside the calendar', 'market:\n  extraClosures: ["2027-01-08", { date: "2100-01-04", name: x }]\n', /market\.extraClosures\[1\]: date is outside the supported years 2000-2099/],
    ['close 25:00', 'market:\n  extraEarlyCloses: [{ date: "2027-11-26", close: "25:00" }]\n', /market\.extraEarlyCloses\[0\]: close must be HH:mm .*"25:00"/],
    ['close after 16:00', 'market:\n  extraEarlyCloses: [{ date: "2027-11-26", close: "16:30" }]\n', /market\.extraEarlyCloses\[0\]: close must be before 16:00/],
    ['two early closes on one date', 'market:\n  extraEarlyCloses: [{ date: "2027-11-26", close: "13:00" }, { date: "2027-11-26", close: "14:00" }]\n', /market\.extraEarlyCloses\[1\]: conflicts with an earlier early close at 13:00/],
  ];
  for (const [name, yaml, message] of bad) {
    t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, yaml), { constructor: ConfigError, message }, name);
  }
  const good = parseConfig({}, 'market:\n  extraClosures: ["2027-01-08"]\n  extraEarlyCloses: [{ date: "2027-11-26", close: "13:00" }]\n');
  t.same(good.market, { extraClosures: [{ date: '2027-01-08' }], extraEarlyCloses: [{ date: '2027-11-26', close: '13:00' }], extraSessions: [] }, 'good extras pass');
  t.throws(() => parseConfig({}, 'stages:\n  paper: { marketHours: maybe }\n'), { message: /stages\.paper\.marketHours: / }, 'other keys are named as before');
});

t.test('readConfigFile: any read error is a ConfigError naming GATE_CONFIG and the path', async (t) => {
  const dir = await tempDir(t, 'gate-cfg-');
  await t.rejects(readConfigFile(dir), { constructor: ConfigError, message: new RegExp(`^GATE_CONFIG=${dir}: .*(EISDIR|directory)`) }, 'a directory');
  await t.rejects(readConfigFile(join(dir, 'none.yaml')), { constructor: ConfigError, message: new RegExp(`^GATE_CONFIG=${join(dir, 'none.yaml')}: .*(ENOENT|no such file)`) }, 'a missing file');
});

t.test('firstStartTokens: print by default, file from the environment or the file, anything else named', async (t) => {
  t.equal(parseConfig({}, null).firstStartTokens, 'print');
  t.equal(parseConfig({ GATE_FIRST_START_TOKENS: 'file' }, null).firstStartTokens, 'file');
  t.equal(parseConfig({}, 'firstStartTokens: file\n').firstStartTokens, 'file');
  t.throws(() => parseConfig({ GATE_FIRST_START_TOKENS: 'log' }, null), { constructor: ConfigError, message: /GATE_FIRST_START_TOKENS/ });
});

t.test('proxyAuth headers: a name no request can carry, or a credential header, is refused naming the key', async (t) => {
  const bad: [string, RegExp][] = [
    ['proxyAuth: { userHeader: "X Auth User" }', /^invalid config file gate\.yaml: proxyAuth\.userHeader: expected an HTTP header name/],
    ['proxyAuth: { groupsHeader: "X-Groups:" }', /proxyAuth\.groupsHeader: expected an HTTP header name/],
    // a trusted proxy forwards the client's Authorization: its bearer token would be the audited user name
    ['proxyAuth: { userHeader: Authorization }', /proxyAuth\.userHeader: must not be a header that carries credentials/],
    ['proxyAuth: { userHeader: cookie }', /proxyAuth\.userHeader: must not be a header that carries credentials/],
  ];
  for (const [yaml, message] of bad) t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, yaml), { constructor: ConfigError, message }, yaml);
  t.same(parseConfig({}, 'proxyAuth: { userHeader: X-Forwarded-User, groupsHeader: X-Forwarded-Groups }').proxyAuth, { trustedCidrs: [], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups', secretSha256: [], secretHeader: 'x-gate-proxy-secret' }, 'header names pass, lower-cased');
});

t.test('breakGlass.maxTtlMinutes: at most 240, the design\'s 4 h for a grant', async (t) => {
  t.equal(parseConfig({}, 'breakGlass: { maxTtlMinutes: 240 }\n').breakGlass.maxTtlMinutes, 240);
  t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, 'breakGlass: { maxTtlMinutes: 241 }\n'), { constructor: ConfigError, message: /^invalid config file gate\.yaml: breakGlass\.maxTtlMinutes: must be at most 240 \(a break-glass grant lives at most 4 h\)/ });
  t.throws(() => parseConfig({}, 'breakGlass: { maxTtlMinutes: 1440 }\n'), { constructor: ConfigError, message: /breakGlass\.maxTtlMinutes/ }, 'a day, which the gate used to take');
});

t.test('an issue of the whole config file is named as the top level, not an empty key', async (t) => {
  t.throws(() => parseConfig({ GATE_CONFIG: 'f.yaml' }, 'prot: 1\n'), { constructor: ConfigError, message: 'invalid config file f.yaml: (top level): Unrecognized key: "prot"' });
  t.throws(() => parseConfig({ GATE_CONFIG: 'f.yaml' }, '- a\n'), { constructor: ConfigError, message: /^invalid config file f\.yaml: \(top level\): .*expected object/ });
});

t.test('GATE_NOW: an instant in 2000-2099 by New York date, the evening of 2099-12-31 included (already 2100 in UTC), up to an hour before the end', async (t) => {
  // the last session of 2099 is answered, and so is the evening after it in New York
  for (const now of ['2099-12-31T19:30:00-05:00', '2100-01-01T03:59:59Z', '2099-12-31T22:59:59.999-05:00']) {
    t.equal(parseConfig({ GATE_NOW: now }, null).now, now, now);
  }
  // the clock runs on: one started in the calendar's last hour would be past it within the hour
  for (const now of ['2099-12-31T23:00:00-05:00', '2100-01-01T04:59:59Z', '2099-12-31T23:59:59.999-05:00']) {
    t.throws(() => parseConfig({ GATE_NOW: now }, null), { constructor: ConfigError, message: /GATE_NOW: expected an instant in 2000-2099 .*at least an hour before 2100-01-01 00:00 New York time/ }, now);
  }
  for (const now of ['2100-01-01T00:00:00-05:00', '2100-01-01T05:00:00Z', '2150-06-01T15:00:00Z', '1999-12-31T23:59:59Z']) {
    t.throws(() => parseConfig({ GATE_NOW: now }, null), { constructor: ConfigError, message: /GATE_NOW: expected an instant in 2000-2099/ }, now);
  }
});

t.test('stages.<stage>.marketHours: wait or deny; null and false both mean market hours do not matter; anything else named', async (t) => {
  const paper = (v: string) => parseConfig({}, `stages:\n  paper: { marketHours: ${v} }\n`).stages.paper.marketHours;
  t.equal(paper('wait'), 'wait');
  t.equal(paper('deny'), 'deny');
  t.equal(paper('null'), null);
  // what a Helm chart can render: it deletes a null value, so false is how its users turn the rule off
  t.equal(paper('false'), null);
  t.equal(parseConfig({}, null).stages.paper.marketHours, 'wait', 'the default');
  for (const bad of ['true', 'maybe', '""', '0']) {
    t.throws(() => paper(bad), { message: /stages\.paper\.marketHours: expected "wait", "deny", or false or null/ }, bad);
  }
});

t.test('stages.<stage>.quietBeforeOpenMinutes: whole minutes from 0 to 720, default 0; named when bad; not for ci or integration', async (t) => {
  const paper = (v: string) => parseConfig({}, `stages:\n  paper: { quietBeforeOpenMinutes: ${v} }\n`).stages.paper.quietBeforeOpenMinutes;
  t.equal(parseConfig({}, null).stages.paper.quietBeforeOpenMinutes, 0, 'the default');
  t.equal(parseConfig({}, null).stages.live.quietBeforeOpenMinutes, 0, 'the default for live');
  for (const ok of [0, 1, 30, 720]) t.equal(paper(String(ok)), ok, String(ok));
  for (const [bad, why] of [['-1', /must be 0 or more/], ['721', /must be at most 720/], ['1.5', /whole number of minutes/], ['"30"', /expected number/], ['null', /expected number/]] as const) {
    t.throws(() => paper(bad), { constructor: ConfigError, message: new RegExp(`stages\\.paper\\.quietBeforeOpenMinutes: .*${why.source}`) }, bad);
  }
  // kept where there is no market-hours rule to hold (the chart's 30 with marketHours turned off), and does nothing there
  t.equal(parseConfig({}, 'stages:\n  paper: { marketHours: false, quietBeforeOpenMinutes: 30 }\n').stages.paper.quietBeforeOpenMinutes, 30);
  for (const s of ['ci', 'integration']) {
    t.throws(() => parseConfig({}, `stages:\n  ${s}: { quietBeforeOpenMinutes: 30 }\n`), { constructor: ConfigError, message: `stages.${s}: only "enabled" applies` }, s);
  }
});

t.test('host: an IP address or a host name; one with a port, a scheme or a space is refused naming the key', async (t) => {
  for (const host of ['0.0.0.0', '::', '::1', '127.0.0.1', 'localhost', 'gate.example.com']) {
    t.equal(parseConfig({ GATE_HOST: host }, null).host, host, host);
    t.equal(parseConfig({}, `host: "${host}"\n`).host, host, `${host} in the file`);
  }
  for (const host of ['0.0.0.0:8080', 'http://0.0.0.0', '[::]', '127.0.0.1 ', 'gate..example.com']) {
    t.throws(() => parseConfig({ GATE_HOST: host }, null), { constructor: ConfigError, message: /^invalid environment: GATE_HOST: expected an IP address or a host name, without a port/ }, host);
    t.throws(() => parseConfig({ GATE_CONFIG: 'gate.yaml' }, `host: "${host}"\n`), { constructor: ConfigError, message: /^invalid config file gate\.yaml: host: expected an IP address or a host name/ }, `${host} in the file`);
  }
});

t.test('unknownGateEnv names a GATE_* variable the gate does not read, not the service links Kubernetes sets for the chart\'s Service', async (t) => {
  // what a pod gets for the Service gate-service (port http, 8080), as the chart names it
  const links = {
    GATE_SERVICE_SERVICE_HOST: '10.43.0.17',
    GATE_SERVICE_SERVICE_PORT: '8080',
    GATE_SERVICE_SERVICE_PORT_HTTP: '8080',
    GATE_SERVICE_PORT: 'tcp://10.43.0.17:8080',
    GATE_SERVICE_PORT_8080_TCP: 'tcp://10.43.0.17:8080',
    GATE_SERVICE_PORT_8080_TCP_PROTO: 'tcp',
    GATE_SERVICE_PORT_8080_TCP_PORT: '8080',
    GATE_SERVICE_PORT_8080_TCP_ADDR: '10.43.0.17',
  };
  t.same(unknownGateEnv({ ...links, GATE_PORT: '8080', GATE_HOST: '0.0.0.0' }), [], 'no warning in the chart\'s pod');
  t.same(unknownGateEnv({ ...links, GATE_LOGLEVEL: 'debug', GATE_SERVICE_PORT_TYPO: 'x' }), ['GATE_LOGLEVEL', 'GATE_SERVICE_PORT_TYPO'], 'typos are still named');
  // without the family (no <P>_SERVICE_HOST, no tcp:// URL) a look-alike is a typo
  t.same(unknownGateEnv({ GATE_SERVICE_PORT: '8080', GATE_SERVICE_HOST: 'x' }), ['GATE_SERVICE_HOST', 'GATE_SERVICE_PORT']);
});

t.test('the checks made after the schema name the config file too, as the schema errors do', async (t) => {
  const cases: [string, string][] = [
    ['stages:\n  ci: { marketHours: wait }\n', 'stages.ci: only "enabled" applies'],
    ['breakGlass: { defaultTtlMinutes: 60, maxTtlMinutes: 30 }\n', 'breakGlass.defaultTtlMinutes: must not exceed breakGlass.maxTtlMinutes'],
    ['http: { trustedProxies: ["10.0.0.0/33"] }\n', 'http.trustedProxies: "10.0.0.0/33" is not an IPv4 or IPv6 CIDR'],
    ['proxyAuth: { trustedCidrs: ["not-an-address"] }\n', 'proxyAuth.trustedCidrs: "not-an-address" is not an IPv4 or IPv6 CIDR'],
    ['proxyAuth: { secretHeader: X-Auth-Request-User }\n', 'proxyAuth.secretHeader: must not be the same header as proxyAuth.userHeader'],
    ['proxyAuth: { userHeader: X-User, groupsHeader: x-user }\n', 'proxyAuth.groupsHeader: must not be the same header as proxyAuth.userHeader'],
  ];
  for (const [yaml, message] of cases) {
    const quoted = message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    t.throws(() => parseConfig({ GATE_CONFIG: '/etc/gate/gate.yaml' }, yaml), { constructor: ConfigError, message: new RegExp(`^invalid config file /etc/gate/gate\\.yaml: ${quoted}`) }, yaml);
    // YAML text without a GATE_CONFIG (the tests' and the CLI's own calls): no file to name
    t.throws(() => parseConfig({}, yaml), { constructor: ConfigError, message: new RegExp(`^invalid config file: ${quoted}`) }, `${yaml} (no file)`);
  }
});
