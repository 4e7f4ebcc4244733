// The chart's PrometheusRule (prometheusRule.enabled): rendered only beside the ServiceMonitor whose
// scrape labels it selects by; its rules pass `promtool check rules`; `promtool test rules` runs each
// alert against series that must fire it and series that must not; and every metric and label it
// reads is one the gate exports (read from a running app's /metrics).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { buildTestApp } from '../helpers/build-app.ts';
import { findTool, repoRoot } from './harness.ts';
import { tempDirSync } from '../helpers/temp-dir.ts';

const helm = findTool('helm');
const promtool = findTool('promtool');
const missing = [!helm && 'helm', !promtool && 'promtool'].filter(Boolean);
if (missing.length > 0) {
  if (process.env.CI === 'true') t.fail(`${missing.join(' and ')} missing (run bash .ci/tools.sh)`);
  else t.test('the chart\'s alerts', { skip: `NOTICE: ${missing.join(' and ')} not found in .tools/bin or on PATH (bash .ci/tools.sh installs them)` }, async () => {});
} else {
  const chart = join(repoRoot, 'helm', 'gate-service');
  const template = (...extra: string[]) => spawnSync(helm!, ['template', 'gate-service', chart, '-n', 'stonks-gate', ...extra], { encoding: 'utf8' });
  const on = ['--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true'];
  const rendered = template(...on);
  if (rendered.status !== 0) throw new Error(rendered.stderr);
  const rule = YAML.parseAllDocuments(rendered.stdout).map((d) => d.toJSON()).find((o) => o?.kind === 'PrometheusRule');
  const groups = rule.spec.groups as { name: string; rules: { alert: string; expr: string }[] }[];
  const exprs = groups.flatMap((g) => g.rules.map((r) => r.expr));

  const dir = tempDirSync(t, 'gate-alerts-');
  const rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, YAML.stringify({ groups }));

  t.test('rendered only when asked for, and only with the ServiceMonitor', async (t) => {
    t.notMatch(template().stdout, /kind: PrometheusRule/, 'off by default');
    const alone = template('--set', 'prometheusRule.enabled=true');
    t.not(alone.status, 0, 'refused without the ServiceMonitor');
    t.match(alone.stderr, /prometheusRule\.enabled needs serviceMonitor\.enabled/);
    t.equal(rule.metadata.namespace, 'stonks-gate');
    const labelled = template(...on, '--set', 'prometheusRule.labels.release=kube-prometheus-stack');
    t.match(labelled.stdout, /release: kube-prometheus-stack/, 'the labels a ruleSelector matches');
    t.same(groups.flatMap((g) => g.rules.map((r) => r.alert)), ['StonksGateDown', 'StonksGateAuditUnwritable', 'StonksGateAuditFailures', 'StonksGateAuditAppendSlow', 'StonksGateSimulatedClock', 'StonksGateAuthUnavailable', 'StonksGateTokenReviewsShed', 'StonksGateDataVolumeLow', 'StonksGateConnectionsDropped', 'StonksGateRefusals']);
    for (const e of exprs) t.match(e, /job="gate-service", namespace="stonks-gate"/, 'each selects the release\'s own series');
    for (const bad of [['--set', 'prometheusRule.auditAppendP99Seconds=0'], ['--set', 'prometheusRule.auditAppendP99Seconds=10'], ['--set', 'prometheusRule.refusalsPer15m=-1'], ['--set', 'prometheusRule.refusalsPer15m=1.5'], ['--set', 'prometheusRule.dataVolumeFreeBytes=1000']]) {
      t.not(template(...on, ...bad).status, 0, `refused: ${bad.join(' ')}`);
    }
  });

  t.test('promtool check rules', async (t) => {
    const r = spawnSync(promtool!, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stdout + r.stderr);
  });

  t.test('every metric and label the alerts read is one the gate exports', async (t) => {
    const { app } = await buildTestApp(t);
    // a refusal, so the refusal counter has its labels in the exposition
    const refused = await app.inject({ method: 'POST', url: '/v1/decisions', payload: {} });
    t.equal(refused.statusCode, 401);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const series = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    const used = new Set(exprs.flatMap((e) => e.match(/\bgate_[a-z_]+/g) ?? []));
    t.ok(used.size >= 5, [...used].join(' '));
    for (const name of used) t.ok(series.has(name), `${name} is exported`);
    t.match(text, /gate_refusals_total\{status="401",error="unauthorized"\} 1/, 'the status label is the bare number the alert matches');
    // histogram_quantile never comes out above the top finite bucket: a threshold the chart takes
    // must lie below it, or StonksGateAuditAppendSlow could never fire
    const top = Math.max(...[...text.matchAll(/^gate_audit_append_seconds_bucket\{le="([0-9.e+-]+)"\}/gm)].map((m) => Number(m[1])));
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8'));
    const limit = schema.properties.prometheusRule.properties.auditAppendP99Seconds;
    t.ok(limit.exclusiveMaximum !== undefined && limit.exclusiveMaximum <= top, `the chart's limit (${JSON.stringify(limit)}) is below the top bucket (${top} s)`);
  });

  t.test('a token the API server could not check is counted as the refusal StonksGateAuthUnavailable reads', async (t) => {
    const { authenticatorWithTokenReviewDown } = await import('../helpers/fake-kube-api.ts');
    const { app } = await buildTestApp(t, { auth: await authenticatorWithTokenReviewDown(t) });
    const refused = await app.inject({ method: 'POST', url: '/v1/decisions', payload: {}, headers: { authorization: 'Bearer some-token' } });
    t.same({ status: refused.statusCode, error: refused.json().error }, { status: 503, error: 'auth_unavailable' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    t.match(text, /gate_refusals_total\{status="503",error="auth_unavailable"\} 1/, 'the series and labels the alert selects');
  });

  t.test('promtool test rules: each alert fires on the series that should fire it, and not on others', async (t) => {
    const sel = 'job="gate-service", namespace="stonks-gate", pod="gate-0"';
    const common = { severity: 'warning' };
    const dataVolumeLow = 'gate-0\'s data volume (audit log, state, test-result artifacts) has had less than 1073741824 bytes free, or has not answered the gate\'s free-space read within a second (NaN), for 5 minutes. Below 256 MiB the gate refuses test results (507), so promotions wait for tests; when the audit log cannot be written it refuses every decision (503, fail closed). Grow the volume, or archive old audit files and artifacts as the gate\'s README says.';
    const tests = [
      {
        name: 'gate down: up 0 (and no series at all) fires after 5 minutes; another namespace\'s gate does not count',
        interval: '1m',
        input_series: [
          { series: `up{${sel}}`, values: '1x9 0x20' },
          { series: 'up{job="gate-service", namespace="other", pod="gate-0"}', values: '1x30' },
        ],
        alert_rule_test: [
          { eval_time: '9m', alertname: 'StonksGateDown', exp_alerts: [] },
          { eval_time: '13m', alertname: 'StonksGateDown', exp_alerts: [] },
          { eval_time: '16m', alertname: 'StonksGateDown', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'stonks-gate' }, exp_annotations: {
            summary: 'No promotion gate is answering in stonks-gate',
            description: 'Prometheus has scraped no live gate (gate-service) for 5 minutes. Kargo\'s gate steps get no answer, and promotions error once their retries run out. Look at the pod\'s events and log (a second gate on the same data directory waits for the lock; a start-up refusal names the bad key or file).',
          } }] },
        ],
      },
      {
        name: 'no series at all: gate down too',
        interval: '1m',
        input_series: [{ series: 'up{job="other", namespace="stonks-gate"}', values: '1x10' }],
        alert_rule_test: [
          { eval_time: '4m', alertname: 'StonksGateDown', exp_alerts: [] },
          { eval_time: '6m', alertname: 'StonksGateDown', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'stonks-gate' }, exp_annotations: {
            summary: 'No promotion gate is answering in stonks-gate',
            description: 'Prometheus has scraped no live gate (gate-service) for 5 minutes. Kargo\'s gate steps get no answer, and promotions error once their retries run out. Look at the pod\'s events and log (a second gate on the same data directory waits for the lock; a start-up refusal names the bad key or file).',
          } }] },
        ],
      },
      {
        name: 'audit log unwritable for a minute: critical, and gone when it recovers; failures meanwhile: a warning for 10 minutes',
        interval: '1m',
        input_series: [
          { series: `gate_audit_writable{${sel}}`, values: '1x5 0x5 1x20' },
          { series: `gate_audit_failures_total{${sel}}`, values: '0x6 4 9 12 20x20' },
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'StonksGateAuditFailures', exp_alerts: [] },
          { eval_time: '6m', alertname: 'StonksGateAuditUnwritable', exp_alerts: [] },
          { eval_time: '8m', alertname: 'StonksGateAuditUnwritable', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate cannot write its audit log and refuses every decision',
            description: 'gate-0 has not been able to make audit records durable for a minute, so it answers every decision 503 (fail closed) and promotions wait. Check the data volume (NFS server, mount, free space); the gate resumes by itself when writes work again. A volume that cannot be written at all (not merely full) for 30 s also costs it its data-directory lock: it goes on answering 503 and restarts (exit 1) once the volume takes a write again. If its /readyz says the audit log changed under the gate (its newest file removed, replaced or cut short by another hand), it will not resume by itself: restart it, and follow what its start-up says.',
          } }] },
          { eval_time: '12m', alertname: 'StonksGateAuditUnwritable', exp_alerts: [] },
          { eval_time: '8m', alertname: 'StonksGateAuditFailures', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'Audit appends failed in the last 10 minutes',
            description: 'gate-0 could not make some audit records durable in the last 10 minutes, and refused those requests with 503. The data volume may be flapping.',
          } }] },
          { eval_time: '25m', alertname: 'StonksGateAuditFailures', exp_alerts: [] },
        ],
      },
      {
        name: 'audit appends: a p99 of about 0.5 s for 15 minutes warns; 10 ms does not',
        interval: '1m',
        input_series: [
          { series: `gate_audit_append_seconds_bucket{${sel}, le="0.01"}`, values: '0x30' },
          { series: `gate_audit_append_seconds_bucket{${sel}, le="0.25"}`, values: '0x30' },
          { series: `gate_audit_append_seconds_bucket{${sel}, le="0.5"}`, values: '0+60x30' },
          { series: `gate_audit_append_seconds_bucket{${sel}, le="+Inf"}`, values: '0+60x30' },
          { series: `gate_audit_append_seconds_bucket{job="gate-service", namespace="stonks-gate", pod="gate-1", le="0.01"}`, values: '0+60x30' },
          { series: `gate_audit_append_seconds_bucket{job="gate-service", namespace="stonks-gate", pod="gate-1", le="+Inf"}`, values: '0+60x30' },
        ],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'StonksGateAuditAppendSlow', exp_alerts: [] },
          { eval_time: '20m', alertname: 'StonksGateAuditAppendSlow', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'Audit appends are slow',
            description: 'The 99th percentile of gate-0\'s audit appends (write + fsync) has been 497.5ms for 15 minutes: every answer waits for it. The data volume is slow.',
          } }] },
        ],
      },
      {
        name: 'a gate on GATE_NOW: critical after a minute; the system clock: nothing',
        interval: '1m',
        input_series: [
          { series: `gate_clock_simulated{${sel}}`, values: '1x10' },
          { series: 'gate_clock_simulated{job="gate-service", namespace="stonks-gate", pod="gate-1"}', values: '0x10' },
        ],
        alert_rule_test: [
          { eval_time: '0m', alertname: 'StonksGateSimulatedClock', exp_alerts: [] },
          { eval_time: '2m', alertname: 'StonksGateSimulatedClock', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate runs on a simulated clock (GATE_NOW)',
            description: 'gate-0 was started with GATE_NOW (chart value gate.now), a demo setting: it decides by a clock that is not the exchange\'s, so it can allow a live promotion while the market is open. Unset gate.now and upgrade.',
          } }] },
        ],
      },
      {
        name: 'tokens the gate cannot check: 503 auth_unavailable for 10 minutes is critical, gone once it stops; a blip, 401s and another namespace do not fire it',
        interval: '1m',
        input_series: [
          // the counter appears with the first such refusal, then Kargo polls once a minute
          { series: `gate_refusals_total{${sel}, status="503", error="auth_unavailable"}`, values: '_x4 1+1x20 21x20' },
          { series: `gate_refusals_total{${sel}, status="401", error="unauthorized"}`, values: '0+5x45' },
          { series: 'gate_refusals_total{job="gate-service", namespace="other", pod="gate-0", status="503", error="auth_unavailable"}', values: '0+1x45' },
        ],
        alert_rule_test: [
          { eval_time: '12m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [] },
          { eval_time: '17m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate cannot check its callers\' tokens or permissions and refuses their requests',
            description: 'gate-0 has kept answering 503 auth_unavailable for 10 minutes: it could not check a caller\'s token or permission. In Kubernetes mode its TokenReview or SubjectAccessReview got no answer in time or an error (API server down, the gate\'s egress to it blocked, its system:auth-delegator binding gone); in local mode its token file could not be read. Kargo keeps polling on a 503, so promotions wait until their retry.timeout and verifications error. The gate\'s log and the audit log\'s refusals name the failure. (A flood of unknown tokens turned away by the bound on TokenReviews is 503 auth_saturated, StonksGateTokenReviewsShed, not this.)',
          } }] },
          { eval_time: '32m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [] },
        ],
      },
      {
        name: 'tokens the gate cannot check for a few minutes (an API server restart): no alert',
        interval: '1m',
        input_series: [{ series: `gate_refusals_total{${sel}, status="503", error="auth_unavailable"}`, values: '_x4 1+1x3 4x30' }],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [] },
          { eval_time: '14m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [] },
          { eval_time: '20m', alertname: 'StonksGateAuthUnavailable', exp_alerts: [] },
        ],
      },
      {
        name: 'TokenReviews shed: a warning for 10 minutes after the last one; none shed, or another namespace\'s, nothing',
        interval: '1m',
        input_series: [
          // the counter is there from the start (0), then a flood of unknown tokens for 3 minutes
          { series: `gate_token_reviews_shed_total{${sel}}`, values: '0x5 40 300 900 900x30' },
          { series: 'gate_token_reviews_shed_total{job="gate-service", namespace="stonks-gate", pod="gate-1"}', values: '0x40' },
          { series: 'gate_token_reviews_shed_total{job="gate-service", namespace="other", pod="gate-0"}', values: '0+10x40' },
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'StonksGateTokenReviewsShed', exp_alerts: [] },
          { eval_time: '7m', alertname: 'StonksGateTokenReviewsShed', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate turned away token checks in the last 10 minutes (too many TokenReviews in flight)',
            description: 'gate-0 answered requests 503 auth_saturated without reviewing their token in the last 10 minutes: config.kubernetes.maxReviewsInFlight TokenReviews were already in flight, or the client\'s quarter of the shared ones. Either a flood of unknown tokens (the audit log\'s refusals name the client addresses) or an API server so slow that the reviews pile up. Callers whose token the API server accepted in the last 7 days keep slots of their own, and one client holds at most a quarter of the others, so a single flooding client leaves the rest to other clients; a new or rotated token waits (503, Kargo polls) while its client\'s quarter, or every shared slot, is taken.',
          } }] },
          { eval_time: '25m', alertname: 'StonksGateTokenReviewsShed', exp_alerts: [] },
        ],
      },
      {
        name: 'data volume below 1 GiB free for 5 minutes warns; above it, a dip shorter than 5 minutes, or another namespace, nothing',
        interval: '1m',
        input_series: [
          // 2 GiB, a 3-minute dip to 900 MiB, back to 2 GiB, then down to 500 MiB for good
          { series: `gate_data_volume_free_bytes{${sel}}`, values: '2147483648x5 943718400x2 2147483648x5 524288000x20' },
          { series: 'gate_data_volume_free_bytes{job="gate-service", namespace="other", pod="gate-0"}', values: '1000x35' },
        ],
        alert_rule_test: [
          { eval_time: '8m', alertname: 'StonksGateDataVolumeLow', exp_alerts: [] },
          { eval_time: '15m', alertname: 'StonksGateDataVolumeLow', exp_alerts: [] },
          { eval_time: '20m', alertname: 'StonksGateDataVolumeLow', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate\'s data volume is nearly full or does not answer (500MiB free)',
            description: dataVolumeLow,
          } }] },
        ],
      },
      {
        name: 'a data volume that does not answer (NaN) for 5 minutes warns too',
        interval: '1m',
        input_series: [
          { series: `gate_data_volume_free_bytes{${sel}}`, values: '2147483648x5 NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN NaN' },
        ],
        alert_rule_test: [
          { eval_time: '8m', alertname: 'StonksGateDataVolumeLow', exp_alerts: [] },
          { eval_time: '20m', alertname: 'StonksGateDataVolumeLow', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate\'s data volume is nearly full or does not answer (NaNB free)',
            description: dataVolumeLow,
          } }] },
        ],
      },
      {
        name: 'connections dropped at the cap: a warning for 10 minutes after the last; none, or another namespace\'s, nothing',
        interval: '1m',
        input_series: [
          { series: `gate_connections_dropped_total{${sel}}`, values: '0x5 3 40 40x30' },
          { series: 'gate_connections_dropped_total{job="gate-service", namespace="stonks-gate", pod="gate-1"}', values: '0x40' },
          { series: 'gate_connections_dropped_total{job="gate-service", namespace="other", pod="gate-0"}', values: '0+10x40' },
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: 'StonksGateConnectionsDropped', exp_alerts: [] },
          { eval_time: '7m', alertname: 'StonksGateConnectionsDropped', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', pod: 'gate-0' }, exp_annotations: {
            summary: 'The gate closed new connections unanswered in the last 10 minutes (http.maxConnections open, or maxConnectionsPerClient from one client)',
            description: 'gate-0 had config.http.maxConnections connections open, or config.http.maxConnectionsPerClient from one client, and closed new ones at once, without an answer, in the last 10 minutes. Kargo\'s gate step and Rollouts\' verifications count such a close as an error. A client holding many idle connections is the usual cause (the gate\'s log names the address of a refused one: "connections refused"); the scrape that raised this kept its own connection, so the gate looks up meanwhile.',
          } }] },
          { eval_time: '25m', alertname: 'StonksGateConnectionsDropped', exp_alerts: [] },
        ],
      },
      {
        name: 'refusals: 2 a minute of 401 warns; as many 400s (bad input, answered by the gate) and a few 403s do not',
        interval: '1m',
        input_series: [
          { series: `gate_refusals_total{${sel}, status="401", error="unauthorized"}`, values: '0+2x30' },
          { series: `gate_refusals_total{${sel}, status="400", error="bad_request"}`, values: '0+2x30' },
          { series: `gate_refusals_total{${sel}, status="403", error="forbidden"}`, values: '0+0.5x30' },
        ],
        alert_rule_test: [
          { eval_time: '3m', alertname: 'StonksGateRefusals', exp_alerts: [] },
          { eval_time: '20m', alertname: 'StonksGateRefusals', exp_alerts: [{ exp_labels: { ...common, namespace: 'stonks-gate', status: '401', error: 'unauthorized' }, exp_annotations: {
            summary: 'The gate refused many requests with 401 (unauthorized)',
            description: 'More than 10 requests in 15 minutes were refused with 401 unauthorized: a caller whose token is wrong, expired or lacks the permission (Kargo\'s promotions fail on it), or someone trying tokens. The audit log has each refusal with the caller\'s address.',
          } }] },
        ],
      },
    ];
    for (const one of tests) {
      const testFile = join(dir, 'alerts.test.yaml');
      writeFileSync(testFile, YAML.stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests: [one] }));
      const r = spawnSync(promtool!, ['test', 'rules', testFile], { encoding: 'utf8' });
      t.equal(r.status, 0, `${one.name}${r.status === 0 ? '' : `\n${r.stdout}${r.stderr}`}`);
    }
  });
}
