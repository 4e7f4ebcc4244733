// "SHA tags are never overwritten" rests on the "already pushed?" checks telling absent from
// unknown. `docker buildx imagetools inspect` fails for both: only the registry's "not found"
// means absent. Any other error (GHCR 429/5xx, a timeout, denied) must fail the step, not
// rebuild and push over <name>:<sha> or push superset:<sha> again.
import t from 'tap';
import { workflowFile } from './lib/harness.ts';
import { SHA, runShell } from './lib/scenarios.ts';
import { loadWorkflow } from './lib/workflow-sim.ts';
import type { Job } from './lib/workflow-sim.ts';

const wf = loadWorkflow(workflowFile);
const PREFIX = 'ghcr.io/celesrenata/stonks-oracle';
const run = (jobId: string, id: string) => (wf.jobs[jobId] as Job).steps.find((s) => s.id === id)!.run as string;
/** a registry whose inspect of `image` fails with `stderr`; every other tag exists */
/** the workflow's pattern of a registry's "not found" (its env) */
const NOT_FOUND = { REGISTRY_NOT_FOUND: String(wf.env?.['REGISTRY_NOT_FOUND'] ?? '') };
const registry = (image: string, stderr: string) => ({
  docker: `if [ "$1 $2 $3" = "buildx imagetools inspect" ]; then
  case "$4" in *"/${image}:"*) printf '%s\\n' ${JSON.stringify(stderr)} >&2; exit 1 ;; esac
  echo "Name: $4"; exit 0
fi
exit 99`,
});
const ERRORS = [
  'ERROR: unexpected status from HEAD request to https://ghcr.io/v2/celesrenata/stonks-oracle/x/manifests/y: 503 Service Unavailable',
  'ERROR: failed to do request: Head "https://ghcr.io/v2/": dial tcp: i/o timeout',
  'ERROR: unexpected status: 429 Too Many Requests',
  'ERROR: denied: denied',
];
const ABSENT = (ref: string) => [`ERROR: ${ref}: not found`, 'ERROR: manifest unknown: manifest unknown'];

t.test('build-images: a registry error fails the step; only "not found" rebuilds', async (t) => {
  const env = { ...NOT_FOUND, IMAGE_PREFIX: PREFIX, IMAGE: 'scheduler', IMAGE_TAG: SHA };
  for (const err of ERRORS) {
    const r = runShell(run('build-images', 'existing'), env, registry('scheduler', err));
    t.not(r.status, 0, `${err}: the step fails`);
    t.equal(r.outputs['exists'], undefined, `${err}: no "exists" output, so nothing is built or pushed`);
    t.match(r.output, /::error title=Registry error::could not tell whether .*scheduler:.* exists/, `${err}: and says why`);
  }
  for (const err of ABSENT(`${PREFIX}/scheduler:${SHA}`)) {
    const r = runShell(run('build-images', 'existing'), env, registry('scheduler', err));
    t.equal(r.status, 0, `${err}: absent`);
    t.equal(r.outputs['exists'], 'false', `${err}: built and pushed`);
  }
});

t.test('without the pattern of "not found" (an env lost in an edit) a step stops: it does not read every error as absent', async (t) => {
  t.match(NOT_FOUND.REGISTRY_NOT_FOUND, /not found/, 'the workflow sets it');
  const r = runShell(run('build-images', 'existing'), { IMAGE_PREFIX: PREFIX, IMAGE: 'scheduler', IMAGE_TAG: SHA }, registry('scheduler', ERRORS[0]!));
  t.not(r.status, 0, 'the step fails');
  t.equal(r.outputs['exists'], undefined, 'no "exists" output: nothing is built or pushed');
});

t.test('build-marker: a registry error fails the step; only "not found" pushes the marker', async (t) => {
  const env = { ...NOT_FOUND, IMAGE_PREFIX: PREFIX, MARKER_IMAGE: 'superset', IMAGE_TAG: SHA, OTHER_IMAGES: 'scheduler risk', MAIN: 'current', NEWER: '', GITHUB_RUN_ATTEMPT: '2' };
  for (const err of ERRORS) {
    const r = runShell(run('build-marker', 'marker'), env, registry('superset', err));
    t.not(r.status, 0, `${err}: the step fails`);
    t.equal(r.outputs['marker'], undefined, `${err}: no marker decision, so no push`);
    t.match(r.output, /::error title=Registry error::could not tell whether .*superset:.* exists/, `${err}: and says why`);
  }
  for (const err of ABSENT(`${PREFIX}/superset:${SHA}`)) {
    const r = runShell(run('build-marker', 'marker'), env, registry('superset', err));
    t.equal(r.status, 0, `${err}: absent`);
    t.equal(r.outputs['marker'], 'push', `${err}: the marker is pushed`);
  }
});
