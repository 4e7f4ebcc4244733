import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/entry.ts';
import { redactTokens } from '../auth/redact-tokens.ts';
import { HttpError } from '../http/errors.ts';
import { inTurnOrShed } from '../http/turn-or-shed.ts';
import { jsonBodyParser } from '../http/json-body.ts';
import { identityOf } from '../http/request-identity.ts';
import { stageNeedsTestResult } from '../policy/decide.ts';
import { getOwn } from '../policy/own.ts';
import type { TestCounts, TestSummary } from '../policy/state.ts';
import type { RouteContext } from './context.ts';
import { ErrorSchema, NoQuery, OciTag, authErrors, recordedText } from './common-schemas.ts';
import { isoOf } from '../policy/clock.ts';
import { STAGES } from '../stages.ts';
import { noTestPassed } from '../policy/no-test-passed.ts';
import { boundedTurns } from '../bounded-turns.ts';
import { writeArtifact } from './write-artifact.ts';

export const RESULTS_BODY_LIMIT = 1024 * 1024;
/** Uploads that may wait behind the one being stored and recorded; one more is answered 503 uploads_saturated at once. */
export const UPLOADS_WAITING = 2;
const UPLOADS_LINE = { saturated: 'uploads_saturated', what: 'test-result uploads', turn: "its upload's turn" };

const Count = z.number().int('must be an integer').min(0, 'must not be negative');
const CountsShape = { passed: Count.optional(), failed: Count.optional(), skipped: Count.optional(), total: Count.optional() };

/**
 * inttest-results.json: any JSON object with an integer exitCode. Counts are read from the top
 * level ({passed, failed, skipped, total}) or, when absent there, from {tests: {...}}; every
 * other field is kept verbatim in the artifact and ignored.
 */
export const TestResultsBody = z.looseObject({
  exitCode: z.number({ message: 'must be an integer (the runner exit code)' }).int('must be an integer (the runner exit code)'),
  /**
   * what went wrong, when the run itself broke (e.g. no results file): shown in the gate's
   * messages and on the public GET and /v1/status, and recorded for good, so a token in it is
   * refused, and so are control characters (the CI script blanks tokens and removes terminal
   * escapes and other control characters before sending: ci/.github/pipeline/lib/results.mjs)
   */
  error: recordedText(z.string().max(2000, 'must be at most 2000 characters')).optional(),
  ...CountsShape,
  tests: z.looseObject(CountsShape).optional(),
});

const Params = z.strictObject({ imageTag: OciTag });
/** The stage whose verification asks: `required` then follows that stage's decisions. */
const Query = z.strictObject({ stage: z.enum(STAGES, { message: `must be one of ${STAGES.join(', ')}` }).optional() });

/** What PUT answers (the summary recorded); GET adds `required`. */
export const TestResultView = z.object({
  imageTag: z.string(),
  found: z.boolean(),
  passed: z.boolean().nullable(),
  exitCode: z.number().nullable(),
  counts: z.object({ passed: z.number().nullable(), failed: z.number().nullable(), skipped: z.number().nullable(), total: z.number().nullable() }).nullable(),
  recordedAt: z.string().nullable(),
  recordedBy: z.string().nullable().optional(),
  artifact: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
});

/** What GET answers: the view, and whether a result is required. */
const TestResultGetView = TestResultView.extend({
  /**
   * whether the gate's decisions require a passing result now: for `?stage=`, exactly when a
   * decision for that stage does (the stage is on, requires integration tests, and the
   * integration stage is on: stageNeedsTestResult); without a stage, whether any stage's does
   */
  required: z.boolean(),
});

/**
 * The summary the gate keeps of a results file; passed only with exit code 0, no failed test, no
 * error, and, where the counts say, at least one test passed (noTestPassed).
 */
export function summarize(body: z.infer<typeof TestResultsBody>): { passed: boolean; exitCode: number; counts: TestCounts; error: string | null } {
  const pick = (k: keyof TestCounts): number | null => body[k] ?? body.tests?.[k] ?? null;
  const counts = { passed: pick('passed'), failed: pick('failed'), skipped: pick('skipped'), total: pick('total') };
  const error = body.error?.trim() || null;
  return { passed: body.exitCode === 0 && (counts.failed ?? 0) === 0 && error === null && !noTestPassed(counts), exitCode: body.exitCode, counts, error };
}

const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/**
 * Free space on the data volume below which test results are refused (507): artifacts are never
 * deleted, and the audit log, whose every write the gate needs in order to answer, is on the
 * same volume. 256 MiB is months of audit records at Kargo's pace.
 */
export const ARTIFACT_RESERVE_BYTES = 256 * 2 ** 20;

/** A UTF-8 decoder that throws on bytes that are not UTF-8 and keeps a byte order mark for the JSON parser to drop. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** PUT /v1/test-results/{imageTag} (ci role) and GET /v1/test-results/{imageTag}?stage= (public, always 200 JSON for a valid tag and stage). */
export function testResultRoutes(ctx: RouteContext) {
  const dir = join(ctx.dataDir, 'artifacts', 'inttest');
  return async (app: FastifyInstance) => {
    // keep the exact bytes: the artifact is stored verbatim
    // the gate's JSON parser (it refuses __proto__ and constructor.prototype, naming the key), keeping the bytes
    const parseJson = jsonBodyParser(app);
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: RESULTS_BODY_LIMIT }, (req, body, done) => {
      // stored byte for byte, so read strictly: a lenient decode would summarise U+FFFD where
      // the stored file holds bytes a strict reader (Python's json, TextDecoder) refuses
      let text: string;
      try {
        text = strictUtf8.decode(body as Buffer);
      } catch {
        return done(new HttpError(400, 'invalid_json', 'body: not valid UTF-8', { field: 'body' }), undefined);
      }
      // it refuses a repeated key too: the summary is taken from the parsed body and the file is
      // stored verbatim, and a repeated key would let the two say different things
      parseJson(req, text, (err, parsed) => {
        if (err) return done(err, undefined);
        rawBodies.set(req, body as Buffer);
        done(null, parsed);
      });
    });
    const r = app.withTypeProvider<ZodTypeProvider>();
    const uploads = boundedTurns(UPLOADS_WAITING);

    r.put('/v1/test-results/:imageTag', {
      onRequest: ctx.guard({ resource: 'testresults', verb: 'update' }),
      bodyLimit: RESULTS_BODY_LIMIT,
      schema: {
        summary: 'Record the integration-test results of an image tag (ci); stored verbatim plus a summary',
        tags: ['test-results'],
        params: Params,
        querystring: NoQuery,
        body: TestResultsBody,
        response: { 200: TestResultView, 400: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 507: ErrorSchema, ...authErrors },
      },
      handler: async (req, reply) => {
        const { imageTag } = req.params;
        const raw = rawBodies.get(req) ?? Buffer.from(JSON.stringify(req.body));
        // one upload at a time, from the free-space check to its record: two of one tag are
        // recorded in the order their files are numbered (the highest file is the newest result,
        // the one to send again), and each sees the space the one before it took. The line is
        // short (UPLOADS_WAITING): a waiting upload holds its parsed body (10-20 MB for 1 MiB of
        // JSON) after its connection, and its body share, may have gone
        return inTurnOrShed(uploads, req, reply, UPLOADS_LINE, async () => {
          // artifacts are kept for good, on the volume the audit log is written to: uploads stop
          // while it has less than a reserve free. A volume that cannot say (statfs refused) is
          // written to as before: the write itself fails if it is full
          const free = await ctx.freeBytes(ctx.dataDir).catch((err: unknown) => {
            req.log.warn({ err }, 'test results: the free space of the data volume could not be read');
            return Number.POSITIVE_INFINITY;
          });
          if (free - raw.length < ARTIFACT_RESERVE_BYTES) {
            req.log.warn({ freeBytes: free, reserveBytes: ARTIFACT_RESERVE_BYTES }, 'test results refused: the data volume is nearly full');
            throw new HttpError(
              507,
              'insufficient_storage',
              `the data volume has ${Math.floor(free / 2 ** 20)} MiB free; test results are refused below ${ARTIFACT_RESERVE_BYTES / 2 ** 20} MiB, kept for the audit log`,
            );
          }
          const artifactName = await writeArtifact(dir, imageTag, raw);
          const artifact = join('artifacts', 'inttest', artifactName);
          const actor = identityOf(req);
          // set by the builder below, which recordChange runs before it resolves
          let summary!: TestSummary;
          try {
            // stamped when it is this result's turn (after decisions already waiting)
            await ctx.recorder.recordChange(() => {
              const recordedAt = isoOf(ctx.clock.now());
              summary = { imageTag, ...summarize(req.body), recordedAt, recordedBy: actor.name, artifact };
              return [
                auditEntry({
                  at: recordedAt,
                  type: 'testresult.recorded',
                  id: req.id,
                  actor,
                  project: ctx.config.project,
                  stage: 'integration',
                  imageTag,
                  data: { summary, sha256: createHash('sha256').update(raw).digest('hex'), bytes: raw.length },
                }),
              ];
            });
          } catch (err) {
            await rm(join(dir, artifactName), { force: true }); // unrecorded: the artifact goes too
            throw err;
          }
          return { found: true, ...summary };
        });
      },
    });

    r.get('/v1/test-results/:imageTag', {
      schema: {
        summary: 'The recorded integration-test result of an image tag: always 200 JSON (Argo Rollouts web metric)',
        tags: ['test-results'],
        params: Params,
        querystring: Query,
        response: { 200: TestResultGetView, 400: ErrorSchema },
      },
      handler: async (req) => {
        const state = ctx.store.read();
        const { stage } = req.query;
        const policies = ctx.config.stages;
        const required = stage ? stageNeedsTestResult(stage, policies[stage], state) : STAGES.some((s) => stageNeedsTestResult(s, policies[s], state));
        const s = getOwn(state.testResults, req.params.imageTag);
        if (!s) return { imageTag: req.params.imageTag, found: false, passed: null, exitCode: null, counts: null, recordedAt: null, required };
        // a result recorded before `error` refused tokens may still hold one: never publish it
        return { found: true, ...s, ...(s.error ? { error: redactTokens(s.error) } : {}), required };
      },
    });
  };
}
