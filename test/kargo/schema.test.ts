// Every YAML document under kargo/ parses and validates against the released upstream schema
// of its kind (../shared/reference/crds), with unknown fields as errors; the step configs
// validate against our own schemas of Kargo's step configs (fixtures/step-config-schemas);
// plus the fixed names and wiring other parts rely on.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import AjvModule from 'ajv';
import { at, docsOfKind, loadKargoDocs } from './lib/kargo-docs.ts';
import type { KargoDoc } from './lib/kargo-docs.ts';
import { ManifestValidator, formatErrors } from './lib/crd-validator.ts';
import { crdDir, inCI, kargoDir, sharedPresent } from './lib/paths.ts';
import { imageSubscriptionSchema } from './lib/image-subscription.ts';
import { stepConfigValidators, stepsWithSchema, validateStepConfig } from './lib/step-schemas.ts';
import { skipWithNotice } from './lib/skip-with-notice.ts';

const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;

type Step = { uses?: string; task?: unknown; as?: string; if?: string; config?: unknown };

const all = loadKargoDocs({ includeExamples: true });
const deployed = all.filter((d) => !d.file.startsWith('kargo/examples/'));
const examples = all.filter((d) => d.file.startsWith('kargo/examples/'));
const clone = <T>(v: T): T => structuredClone(v);
const stepsOf = (stage: KargoDoc): Step[] => at(stage.doc, 'spec', 'promotionTemplate', 'spec', 'steps') as Step[];
const docNamed = (kind: string, name: string): KargoDoc => {
  const d = docsOfKind(all, kind).find((x) => at(x.doc, 'metadata', 'name') === name);
  if (!d) throw new Error(`no ${kind} ${name}`);
  return d;
};

t.test('every YAML document under kargo/ parses', async (t) => {
  t.equal(deployed.length, 11, 'project, project config, warehouse, 3 stages, 2 analysis templates, 3 applications');
  t.ok(examples.length >= 5, `found ${examples.length} example documents`);
  for (const d of all) {
    t.type(d.doc.apiVersion, 'string', `${d.file}#${d.index} has apiVersion`);
    t.type(d.doc.kind, 'string', `${d.file}#${d.index} has kind`);
  }
});

t.test('schema validation against ../shared/reference/crds', async (t) => {
  if (!sharedPresent()) {
    if (inCI()) t.fail(`${crdDir} is missing and CI=true`);
    else skipWithNotice(t, `${crdDir} is missing; CRD schema validation skipped`);
    return;
  }
  const validator = new ManifestValidator(crdDir);

  t.test('each document validates against the schema of its kind', async (t) => {
    for (const d of all) {
      t.same(validator.validate(d.doc), [], `${d.file}#${d.index} ${String(d.doc.kind)} ${String(at(d.doc, 'metadata', 'name'))}`);
    }
  });

  t.test('unknown fields and wrong types are errors', async (t) => {
    const stage = docNamed('Stage', 'beta').doc;
    const cases: { name: string; doc: Record<string, unknown>; mutate: (d: Record<string, unknown>) => void; expect: RegExp }[] = [
      { name: 'Stage spec', doc: stage, mutate: (d) => ((d.spec as Record<string, unknown>).bogus = 1), expect: /\/spec: must NOT have additional properties \(bogus\)/ },
      { name: 'Stage step retry', doc: stage, mutate: (d) => ((stepsOf({ file: '', index: 0, doc: d })[0] as Record<string, Record<string, unknown>>).retry!.bogus = 1), expect: /retry: must NOT have additional properties \(bogus\)/ },
      { name: 'Stage step retry type', doc: stage, mutate: (d) => ((stepsOf({ file: '', index: 0, doc: d })[0] as Record<string, Record<string, unknown>>).retry!.errorThreshold = 'many'), expect: /errorThreshold: must be integer/ },
      { name: 'Stage requestedFreight origin kind', doc: stage, mutate: (d) => ((at(d, 'spec', 'requestedFreight', 0, 'origin') as Record<string, unknown>).kind = 'Git'), expect: /must be equal to one of the allowed values/ },
      { name: 'Stage verification arg', doc: stage, mutate: (d) => ((at(d, 'spec', 'verification', 'args', 0) as Record<string, unknown>).valueFrom = {}), expect: /additional properties \(valueFrom\)/ },
      { name: 'metadata', doc: stage, mutate: (d) => ((d.metadata as Record<string, unknown>).labelz = {}), expect: /\/metadata: must NOT have additional properties \(labelz\)/ },
      { name: 'Warehouse spec', doc: docNamed('Warehouse', 'stonks-oracle').doc, mutate: (d) => ((d.spec as Record<string, unknown>).pollInterval = '1m'), expect: /additional properties \(pollInterval\)/ },
      { name: 'ProjectConfig policy', doc: docNamed('ProjectConfig', 'stonks-pipeline').doc, mutate: (d) => ((at(d, 'spec', 'promotionPolicies', 0) as Record<string, unknown>).autoPromote = true), expect: /additional properties \(autoPromote\)/ },
      { name: 'Project spec (none in v1.11.2)', doc: docNamed('Project', 'stonks-pipeline').doc, mutate: (d) => (d.spec = { promotionPolicies: [] }), expect: /additional properties \(spec\)/ },
      { name: 'AnalysisTemplate web provider', doc: docNamed('AnalysisTemplate', 'integration-tests').doc, mutate: (d) => ((at(d, 'spec', 'metrics', 0, 'provider', 'web') as Record<string, unknown>).basicAuth = {}), expect: /additional properties \(basicAuth\)/ },
      { name: 'AnalysisTemplate header valueFrom', doc: docNamed('AnalysisTemplate', 'integration-tests').doc, mutate: (d) => ((at(d, 'spec', 'metrics', 0, 'provider', 'web', 'headers', 0) as Record<string, unknown>).valueFrom = {}), expect: /additional properties \(valueFrom\)/ },
      { name: 'Application helm', doc: docNamed('Application', 'stonks-oracle-paper').doc, mutate: (d) => ((at(d, 'spec', 'source', 'helm') as Record<string, unknown>).valueFile = 'x'), expect: /additional properties \(valueFile\)/ },
      { name: 'Secret', doc: docNamed('Secret', 'gate-caller').doc, mutate: (d) => (d.strngData = {}), expect: /additional properties \(strngData\)/ },
      { name: 'cluster-scoped Project with a namespace', doc: docNamed('Project', 'stonks-pipeline').doc, mutate: (d) => ((d.metadata as Record<string, unknown>).namespace = 'x'), expect: /cluster-scoped kind with metadata.namespace/ },
    ];
    for (const c of cases) {
      const doc = clone(c.doc);
      t.same(validator.validate(doc), [], `${c.name}: valid before the change`);
      c.mutate(doc);
      const errors = validator.validate(doc);
      t.ok(errors.some((e) => c.expect.test(e)), `${c.name}: rejected (${errors.join(' | ')})`);
    }
  });
});

t.test('step configs validate against our schemas of the Kargo v1.11.2 step configs', async (t) => {
  const validators = stepConfigValidators();
  t.same([...validators.keys()].sort(), [...stepsWithSchema].sort(), 'one schema per step our stages use');
  for (const stage of docsOfKind(deployed, 'Stage')) {
    for (const [i, step] of stepsOf(stage).entries()) {
      t.ok(step.uses, `${stage.file} step ${i} uses a built-in step`);
      t.same(validateStepConfig(validators, step.uses!, step.config), [], `${stage.file} step ${i} (${step.uses}) config`);
    }
  }
  // Each negative case edits a valid config taken from the live stage: unknown fields at several
  // depths, wrong types, missing required fields, and the cross-field rules.
  type Cfg = Record<string, any>; // step configs are free-form; the edits reach into them directly
  const configOf = (uses: string): Cfg => clone(stepsOf(docNamed('Stage', 'live')).find((s) => s.uses === uses)!.config as Cfg);
  const negatives: { name: string; uses: string; edit: (c: Cfg) => void; expect: RegExp }[] = [
    // http
    { name: 'unknown top-level field (bodyFromFile is main-only)', uses: 'http', edit: (c) => (c.bodyFromFile = 'x'), expect: /^\/: must NOT have additional properties \(bodyFromFile\)$/ },
    { name: 'unknown header field', uses: 'http', edit: (c) => (c.headers[0].secret = true), expect: /^\/headers\/0: must NOT have additional properties \(secret\)$/ },
    { name: 'unknown output field', uses: 'http', edit: (c) => (c.outputs[0].expr = 'x'), expect: /^\/outputs\/0: must NOT have additional properties \(expr\)$/ },
    { name: 'empty header value', uses: 'http', edit: (c) => (c.headers[0].value = ''), expect: /^\/headers\/0\/value: must NOT have fewer than 1 characters$/ },
    { name: 'bad method', uses: 'http', edit: (c) => (c.method = 'FETCH'), expect: /^\/method: must be equal to one of the allowed values$/ },
    { name: 'lower-case method', uses: 'http', edit: (c) => (c.method = 'post'), expect: /^\/method: must be equal to one of the allowed values$/ },
    { name: 'timeout as a number', uses: 'http', edit: (c) => (c.timeout = 10), expect: /^\/timeout: must be string$/ },
    { name: 'timeout without unit', uses: 'http', edit: (c) => (c.pollInterval = '60'), expect: /^\/pollInterval: must match pattern/ },
    { name: 'headers as a map', uses: 'http', edit: (c) => (c.headers = { Authorization: 'x' }), expect: /^\/headers: must be array$/ },
    { name: 'insecureSkipTLSVerify as a string', uses: 'http', edit: (c) => (c.insecureSkipTLSVerify = 'true'), expect: /^\/insecureSkipTLSVerify: must be boolean$/ },
    { name: 'proxy without scheme', uses: 'http', edit: (c) => (c.proxy = 'proxy:3128'), expect: /^\/proxy: must match pattern/ },
    { name: 'output without expression', uses: 'http', edit: (c) => delete c.outputs[0].fromExpression, expect: /^\/outputs\/0: must have required property 'fromExpression'$/ },
    { name: 'no url', uses: 'http', edit: (c) => delete c.url, expect: /^\/: must have required property 'url'$/ },
    // git-clone
    { name: 'unknown checkout field', uses: 'git-clone', edit: (c) => (c.checkout[0].depth = 1), expect: /^\/checkout\/0: must NOT have additional properties \(depth\)$/ },
    { name: 'branch and tag', uses: 'git-clone', edit: (c) => (c.checkout[0].tag = 'v1'), expect: /^\/checkout\/0: must NOT be valid$/ },
    { name: 'checkout as one object', uses: 'git-clone', edit: (c) => (c.checkout = c.checkout[0]), expect: /^\/checkout: must be array$/ },
    { name: 'no checkout', uses: 'git-clone', edit: (c) => (c.checkout = []), expect: /^\/checkout: must NOT have fewer than 1 items$/ },
    { name: 'checkout without path', uses: 'git-clone', edit: (c) => delete c.checkout[0].path, expect: /^\/checkout\/0: must have required property 'path'$/ },
    // yaml-update
    { name: 'unknown update field', uses: 'yaml-update', edit: (c) => (c.updates[0].type = 'string'), expect: /^\/updates\/0: must NOT have additional properties \(type\)$/ },
    { name: 'update without value', uses: 'yaml-update', edit: (c) => delete c.updates[0].value, expect: /^\/updates\/0: must have required property 'value'$/ },
    { name: 'path as a list', uses: 'yaml-update', edit: (c) => (c.path = [c.path]), expect: /^\/path: must be string$/ },
    // git-commit
    { name: 'unknown field (messageFromSteps)', uses: 'git-commit', edit: (c) => (c.messageFromSteps = ['update']), expect: /^\/: must NOT have additional properties \(messageFromSteps\)$/ },
    { name: 'empty message', uses: 'git-commit', edit: (c) => (c.message = ''), expect: /^\/message: must NOT have fewer than 1 characters$/ },
    // git-push
    { name: 'unknown field (force)', uses: 'git-push', edit: (c) => (c.force = true), expect: /^\/: must NOT have additional properties \(force\)$/ },
    { name: 'maxAttempts as a string', uses: 'git-push', edit: (c) => (c.maxAttempts = '3'), expect: /^\/maxAttempts: must be integer$/ },
    { name: 'maxAttempts 0', uses: 'git-push', edit: (c) => (c.maxAttempts = 0), expect: /^\/maxAttempts: must be >= 1$/ },
    { name: 'targetBranch with generateTargetBranch', uses: 'git-push', edit: (c) => Object.assign(c, { targetBranch: 'main', generateTargetBranch: true }), expect: /^\/: must match "then" schema$/ },
    // argocd-update
    { name: 'unknown app field', uses: 'argocd-update', edit: (c) => (c.apps[0].project = 'default'), expect: /^\/apps\/0: must NOT have additional properties \(project\)$/ },
    { name: 'unknown source field (targetRevision)', uses: 'argocd-update', edit: (c) => (c.apps[0].sources[0].targetRevision = 'main'), expect: /^\/apps\/0\/sources\/0: must NOT have additional properties \(targetRevision\)$/ },
    { name: 'updateTargetRevision as a string', uses: 'argocd-update', edit: (c) => (c.apps[0].sources[0].updateTargetRevision = 'true'), expect: /^\/apps\/0\/sources\/0\/updateTargetRevision: must be boolean$/ },
    { name: 'updateTargetRevision without desiredRevision', uses: 'argocd-update', edit: (c) => delete c.apps[0].sources[0].desiredRevision, expect: /^\/apps\/0\/sources\/0: must have required property 'desiredRevision'$/ },
    { name: 'app without name', uses: 'argocd-update', edit: (c) => delete c.apps[0].name, expect: /^\/apps\/0: must have required property 'name'$/ },
    { name: 'kustomize image with tag and digest', uses: 'argocd-update', edit: (c) => (c.apps[0].sources[0].kustomize = { images: [{ repoURL: 'r', tag: 't', digest: 'sha256:x' }] }), expect: /^\/apps\/0\/sources\/0\/kustomize\/images\/0: must NOT be valid$/ },
  ];
  for (const n of negatives) {
    const config = configOf(n.uses);
    t.same(validateStepConfig(validators, n.uses, config), [], `${n.uses}: ${n.name}: valid before the edit`);
    n.edit(config);
    const errors = validateStepConfig(validators, n.uses, config);
    t.ok(errors.some((e) => n.expect.test(e)), `${n.uses}: ${n.name}: rejected (${errors.join(' | ')})`);
  }
  t.same(validateStepConfig(validators, 'git-push', { path: './repo', generateTargetBranch: true }), [], 'git-push: a generated branch alone is valid');
  t.same(validateStepConfig(validators, 'git-clone', { repoURL: 'x', checkout: [{ tag: 'v1', path: './a' }, { commit: 'abc', path: './b' }] }), [], 'git-clone: one ref per checkout is valid');
});

t.test('warehouse: one marker image, full-SHA tags only, never latest', async (t) => {
  const wh = docNamed('Warehouse', 'stonks-oracle').doc;
  const subs = at(wh, 'spec', 'subscriptions') as Record<string, Record<string, unknown>>[];
  t.equal(subs.length, 1, 'exactly one subscription: the marker image');
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(imageSubscriptionSchema);
  t.same(validate(subs[0]) ? [] : formatErrors(validate.errors), [], 'image subscription matches the ImageSubscription type');
  t.notOk(validate({ image: { ...subs[0]!.image, allowTag: 'x' } }), 'a misspelt subscription field is rejected');
  const image = subs[0]!.image!;
  t.equal(image.repoURL, 'ghcr.io/celesrenata/stonks-oracle/superset');
  t.equal(image.imageSelectionStrategy, 'NewestBuild', 'SHA tags have no order: newest build wins');
  t.notOk('allowTags' in image, 'allowTags is deprecated and fails discovery since v1.11; allowTagsRegexes is used');
  const regexes = (image.allowTagsRegexes as string[]).map((r) => new RegExp(r));
  const matches = (tag: string): boolean => regexes.some((r) => r.test(tag));
  for (const [tag, ok] of [
    ['0123456789abcdef0123456789abcdef01234567', true],
    ['latest', false],
    ['main', false],
    ['0123456', false],
    ['0123456789ABCDEF0123456789ABCDEF01234567', false],
    ['0123456789abcdef0123456789abcdef01234567-dirty', false],
    ['sha-0123456789abcdef0123456789abcdef01234567', false],
  ] as const) {
    t.equal(matches(tag), ok, `tag ${tag} ${ok ? 'is' : 'is not'} freight`);
  }
  for (const stage of docsOfKind(deployed, 'Stage')) {
    const vars = Object.fromEntries((at(stage.doc, 'spec', 'vars') as { name: string; value: string }[]).map((v) => [v.name, v.value]));
    t.equal(vars.markerImage, image.repoURL, `${stage.file}: vars.markerImage is the warehouse's subscription`);
  }
});

t.test('fixed names, namespaces and wiring', async (t) => {
  t.equal(docsOfKind(deployed, 'Project').length, 1);
  t.equal(at(docNamed('Project', 'stonks-pipeline').doc, 'metadata', 'name'), 'stonks-pipeline', 'project is stonks-pipeline, never stonks-oracle');
  for (const d of deployed) {
    const ns = at(d.doc, 'metadata', 'namespace');
    if (d.doc.kind === 'Project') t.equal(ns, undefined, 'Project is cluster-scoped');
    else if (d.doc.kind === 'Application') t.equal(ns, 'argocd', `${d.file}: Application in argocd`);
    else t.equal(ns, 'stonks-pipeline', `${d.file}#${d.index}: ${String(d.doc.kind)} in the project namespace`);
  }
  const policies = at(docNamed('ProjectConfig', 'stonks-pipeline').doc, 'spec', 'promotionPolicies') as Record<string, unknown>[];
  const auto = Object.fromEntries(policies.map((p) => [at(p, 'stageSelector', 'name'), p.autoPromotionEnabled]));
  t.same(auto, { beta: true, paper: true, live: false }, 'auto-promotion on for beta and paper, off for live');
  for (const p of policies) t.ok(('stage' in p) !== ('stageSelector' in p), 'policy has exactly one of stage/stageSelector (CEL rule)');

  const chain: Record<string, Record<string, unknown>> = {
    beta: { direct: true },
    paper: { stages: ['beta'] },
    live: { stages: ['paper'] },
  };
  const apps: Record<string, { ns: string; files: string[] }> = {
    beta: { ns: 'stonks-oracle-beta', files: ['values.yaml', 'values-beta.yaml'] },
    paper: { ns: 'stonks-oracle-paper', files: ['values.yaml', 'values-paper.yaml'] },
    live: { ns: 'stonks-oracle', files: ['values.yaml', 'values-live.yaml'] },
  };
  for (const [stageName, sources] of Object.entries(chain)) {
    const stage = docNamed('Stage', stageName);
    t.same(at(stage.doc, 'spec', 'requestedFreight'), [{ origin: { kind: 'Warehouse', name: 'stonks-oracle' }, sources }], `${stageName} freight source`);
    const vars = Object.fromEntries((at(stage.doc, 'spec', 'vars') as { name: string; value: string }[]).map((v) => [v.name, v.value]));
    t.equal(vars.gateURL, 'http://gate-service.stonks-gate.svc.cluster.local:8080', `${stageName} vars.gateURL`);
    t.equal(vars.valuesFile, `infra/helm/stonks-oracle/values-${stageName}.yaml`, `${stageName} values file`);
    t.equal(vars.argocdApp, `stonks-oracle-${stageName}`, `${stageName} Argo CD application`);
    t.ok(vars.imageTagKey, `${stageName} sets the image tag key by a stage variable`);

    const steps = stepsOf(stage);
    t.equal(steps[0]!.uses, 'http', `${stageName}: the first step is the http gate`);
    t.equal(steps[0]!.as, 'gate', `${stageName}: alias gate`);
    t.same(steps.map((s) => s.uses), ['http', 'git-clone', 'yaml-update', 'git-commit', 'git-push', 'argocd-update'], `${stageName}: step sequence`);
    for (const s of steps) t.ok((s.uses === undefined) !== (s.task === undefined), 'exactly one of uses/task (CEL rule)');
    t.equal(steps[0]!.if, undefined, 'the gate itself always runs');
    for (const s of steps.slice(1)) {
      t.equal(s.if, '${{ success() && !outputs.gate.skip }}', `${stageName}/${s.as}: skipped when the gate says skip or an earlier step failed`);
    }
    t.match(at(steps[3], 'config', 'message'), /outputs\.gate\.decisionId/, `${stageName}: commit message names the gate decision`);
    t.match(at(steps[3], 'config', 'message'), /\[skip ci\]/, `${stageName}: Kargo's own commit does not trigger a CI image build`);
    t.equal(at(steps[5], 'config', 'apps', 0, 'name'), '${{ vars.argocdApp }}');

    const app = docNamed('Application', `stonks-oracle-${stageName}`).doc;
    t.equal(at(app, 'metadata', 'annotations', 'kargo.akuity.io/authorized-stage'), `stonks-pipeline:${stageName}`, `${stageName} app authorizes its stage`);
    t.equal(at(app, 'spec', 'source', 'repoURL'), vars.gitRepo, `${stageName} app source = the repo Kargo writes`);
    t.equal(at(app, 'spec', 'source', 'path'), 'infra/helm/stonks-oracle');
    t.same(at(app, 'spec', 'source', 'helm', 'valueFiles'), apps[stageName]!.files, `${stageName} value files`);
    t.equal(at(app, 'spec', 'destination', 'namespace'), apps[stageName]!.ns, `${stageName} destination namespace`);
    t.equal(at(app, 'spec', 'syncPolicy', 'automated'), undefined, `${stageName}: no automated sync, only promotions deploy`);
    // one chart, one release name for every stage: a cluster-scoped object would be shared, and a
    // beta or paper sync must fail rather than take live's over
    t.ok((at(app, 'spec', 'syncPolicy', 'syncOptions') as string[]).includes('FailOnSharedResource=true'), `${stageName}: a shared object fails the sync`);
  }
  const liveOpts = at(docNamed('Application', 'stonks-oracle-live').doc, 'spec', 'syncPolicy', 'syncOptions') as string[];
  t.notOk(liveOpts.includes('CreateNamespace=true'), 'live uses the existing namespace');
  const paperEnv = at(docNamed('Application', 'stonks-oracle-paper').doc, 'spec', 'source', 'helm', 'valuesObject', 'global', 'extraEnv') as Record<string, unknown>[];
  const env = Object.fromEntries(paperEnv.map((e) => [e.name, e.value ?? at(e, 'valueFrom', 'secretKeyRef', 'name')]));
  t.same(env, {
    BROKER_MODE: 'paper',
    BROKER_PROVIDER: 'alpaca',
    ALPACA_BASE_URL: 'https://paper-api.alpaca.markets',
    ALPACA_API_KEY_ID: 'alpaca-paper-credentials',
    ALPACA_API_SECRET_KEY: 'alpaca-paper-credentials',
  }, 'paper: broker mode, provider and credentials from a Secret');

  const templates = Object.fromEntries(docsOfKind(deployed, 'Stage').map((s) => [at(s.doc, 'metadata', 'name'), (at(s.doc, 'spec', 'verification', 'analysisTemplates') as { name: string }[]).map((x) => x.name)]));
  t.same(templates, { beta: ['integration-tests', 'app-health'], paper: ['app-health'], live: ['app-health'] }, 'verification per stage');
  const secretArgs = docsOfKind(deployed, 'AnalysisTemplate').flatMap((d) => (at(d.doc, 'spec', 'args') as Record<string, unknown>[]).filter((a) => a.valueFrom !== undefined));
  t.same(secretArgs, [], 'no template takes a Secret: the endpoints they read are public, and no gate token goes to them');
});

t.test('secrets by reference only', async (t) => {
  t.same(docsOfKind(deployed, 'Secret'), [], 'no Secret outside kargo/examples/ (the deploy script never applies one)');
  const labels: Record<string, string> = {
    'gate-caller': 'generic',
    'git-credentials': 'git',
    'ghcr-credentials': 'image',
  };
  const secrets = docsOfKind(examples, 'Secret');
  t.ok(secrets.length >= 6, `${secrets.length} example Secrets`);
  for (const ex of secrets) {
    const name = String(at(ex.doc, 'metadata', 'name'));
    if (labels[name]) t.equal(at(ex.doc, 'metadata', 'labels', 'kargo.akuity.io/cred-type'), labels[name], `${ex.file}: Kargo credential label`);
    t.notOk('data' in ex.doc, `${ex.file}: no data block`);
    if (ex.doc.type === 'kubernetes.io/service-account-token') {
      t.notOk('stringData' in ex.doc, `${ex.file}: service-account token, filled in by Kubernetes`);
      t.equal(at(ex.doc, 'metadata', 'annotations', 'kubernetes.io/service-account.name'), 'gate-caller');
      continue;
    }
    const entries = Object.entries((ex.doc.stringData ?? {}) as Record<string, string>);
    t.ok(entries.some(([, v]) => /^REPLACE_WITH_[A-Z_]+$/.test(v)), `${ex.file}: carries placeholders`);
    for (const [k, v] of entries) {
      if (/password|token|secret|key/i.test(k)) t.match(v, /^REPLACE_WITH_[A-Z_]+$/, `${ex.file}: ${k} is a placeholder`);
    }
  }
  const sa = docsOfKind(examples, 'ServiceAccount');
  t.same(sa.map((d) => `${String(at(d.doc, 'metadata', 'namespace'))}/${String(at(d.doc, 'metadata', 'name'))}`), ['stonks-pipeline/gate-caller'], 'the gate-caller ServiceAccount (created by runmefirst.sh)');
});

t.test('the commands the examples give for their Secrets take secrets on stdin, never as an argument', async (t) => {
  const dir = join(kargoDir, 'examples');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  t.ok(files.length >= 5);
  for (const f of files) {
    const comments = (await readFile(join(dir, f), 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n');
    // an argument is in every user's `ps` while kubectl runs, and in the shell history when typed
    t.notMatch(comments, /--from-literal=[^=\s]*(password|token|secret|key)[^=\s]*=/i, `${f}: no secret in a --from-literal`);
    t.notMatch(comments, /htpasswd\s+-\w*b/, `${f}: htpasswd asks for the password`);
  }
});

t.test('the three Stages run the same steps: only the gate step\'s retry.timeout differs (a fix to one is made in all)', async (t) => {
  const timeouts: Record<string, unknown> = {};
  const bodies = ['beta', 'paper', 'live'].map((name) => {
    const steps = structuredClone(stepsOf(docNamed('Stage', name))) as Record<string, Record<string, unknown>>[];
    const retry = steps[0]!['retry'] as Record<string, unknown>;
    timeouts[name] = retry['timeout'];
    delete retry['timeout'];
    return { name, steps };
  });
  t.same(timeouts, { beta: '3h', paper: '8h', live: '96h' }, 'the timeouts kargo/README.md gives');
  for (const { name, steps } of bodies.slice(1)) t.same(steps, bodies[0]!.steps, `${name}'s steps are beta's, apart from the timeout`);
});
