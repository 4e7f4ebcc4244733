import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { createMemoryAuditLog, type MemoryAuditLog } from '../../src/audit/memory-log.ts';
import type { Authenticator } from '../../src/auth/identity.ts';
import { createLocalAuthenticator, createToken, tokenFilePath } from '../../src/auth/local-tokens.ts';
import { type Config, parseConfig } from '../../src/config.ts';
import type { Deps } from '../../src/deps.ts';
import { counterIds } from '../../src/ids.ts';
import { type Clock, fixedClock } from '../../src/policy/clock.ts';
import { createMarketCalendar } from '../../src/policy/market-hours.ts';
import { emptyState } from '../../src/policy/state.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import type { StateStore } from '../../src/store/store.ts';
import { type TapLike, tempDir } from './temp-dir.ts';

/** A clock tests can move. */
export interface TestClock extends Clock {
  set(iso: string): void;
}

export function testClock(iso: string): TestClock {
  let inner = fixedClock(iso);
  return { now: () => inner.now(), set: (next) => void (inner = fixedClock(next)) };
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  clock: TestClock;
  audit: MemoryAuditLog;
  store: StateStore;
  dataDir: string;
  /** tokens by role name: caller, operator, approver, admin, ci, auditor, plus "operator2"/"approver2" */
  tokens: Record<string, string>;
  /** app.inject with a bearer token for the named role (or none) */
  as(role: string | null, opts: InjectOptions): Promise<LightMyRequestResponse>;
}

/**
 * Builds the app on in-memory audit log and state, a fixed clock (default: Wednesday
 * 2026-11-25 10:00 ET, market open), counter ids and a local token file in a temp dir.
 */
export async function buildTestApp(
  t: TapLike,
  opts: { now?: string; configYaml?: string; env?: Record<string, string>; auth?: Authenticator; deps?: Partial<Deps> } = {},
): Promise<TestApp> {
  // removed at teardown, also when what follows fails
  const dataDir = await tempDir(t, 'gate-test-');
  const config = parseConfig({ GATE_DATA_DIR: dataDir, ...(opts.env ?? {}) }, opts.configYaml ?? null);
  const clock = testClock(opts.now ?? '2026-11-25T15:00:00Z');
  const audit = createMemoryAuditLog();
  const store = createMemoryStore(emptyState(config.stages));
  const file = tokenFilePath(dataDir);
  const tokens: Record<string, string> = {};
  const ids = counterIds();
  for (const [name, roles] of [
    ['caller', ['caller']],
    ['operator', ['operator']],
    ['operator2', ['operator']],
    ['approver', ['approver']],
    ['approver2', ['approver']],
    ['admin', ['admin']],
    ['ci', ['ci']],
    ['auditor', ['auditor']],
  ] as const) {
    tokens[name] = (await createToken(file, name, [...roles], new Date('2026-01-01T00:00:00Z'), ids('tok'))).token;
  }
  const app = await buildApp({
    config,
    clock,
    newId: counterIds(),
    audit,
    store,
    auth: opts.auth ?? createLocalAuthenticator(file),
    calendar: createMarketCalendar(config.market),
    dataDir,
    logger: false,
    processMetrics: false,
    // the host's own free space must not decide a test (a full /tmp would turn uploads into 507s);
    // the tests of the reserve set it, and spawned gates read the real volume
    freeBytes: async () => Number.POSITIVE_INFINITY,
    ...(opts.deps ?? {}),
  });
  t.teardown(() => app.close());
  return {
    app,
    config,
    clock,
    audit,
    store,
    dataDir,
    tokens,
    as: (role, inject) => {
      const headers = { ...(inject.headers ?? {}) } as Record<string, string>;
      if (role !== null) headers['authorization'] = `Bearer ${tokens[role] ?? role}`;
      return app.inject({ ...inject, headers });
    },
  };
}

/** A decision request body with defaults. */
export function decisionBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { project: 'stonks-pipeline', stage: 'beta', imageTag: 'abc123', ...over };
}
