import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { STAGES, type Stage } from './stages.ts';
import { DEFAULT_SECRET_HEADER, MAX_SECRET_HASHES, proxySecretDigest } from './auth/proxy-header.ts';
import { parseCidrs } from './http/peer-address.ts';
import { MarketExtrasError, normalizeMarketExtras } from './policy/market-extras.ts';

/**
 * Configuration: environment variables (GATE_*) over an optional YAML file (GATE_CONFIG) over
 * defaults that run on a laptop. parseConfig is pure; server.ts reads the environment, and
 * readConfigFile the file (for the server and the CLI alike).
 */

/**
 * What a stage answers while the NYSE session is open. `false` says "market hours do not matter"
 * as null does: Helm deletes a null value from a chart's values (a chart user could not turn the
 * rule off for paper), and keeps `false`.
 */
const MarketHoursAnswer = z.union([z.enum(['wait', 'deny']), z.literal(false).transform(() => null)], {
  error: 'expected "wait", "deny", or false or null (market hours do not matter)',
});

/**
 * How long before the open the market-hours answer already holds (minutes): a promotion allowed at
 * 09:29 would otherwise roll out into the opening minutes. At most 12 hours.
 */
const QuietBeforeOpen = z.number().int('must be a whole number of minutes').min(0, 'must be 0 or more').max(720, 'must be at most 720 (12 hours)');

const StagePolicySchema = z.strictObject({
  enabled: z.boolean().default(true),
  requireIntegrationTests: z.boolean().default(false),
  /** what the gate answers while the NYSE session is open; absent = market hours do not matter */
  marketHours: MarketHoursAnswer.nullable().default(null),
  /** the market-hours answer holds from this many minutes before the open (nothing without one) */
  quietBeforeOpenMinutes: QuietBeforeOpen.default(0),
  requireApproval: z.boolean().default(false),
});
export type StagePolicy = z.infer<typeof StagePolicySchema>;

/** A stage entry in the config file: only the keys given override the defaults. */
const StageOverrideSchema = z.strictObject({
  enabled: z.boolean().optional(),
  requireIntegrationTests: z.boolean().optional(),
  marketHours: MarketHoursAnswer.nullable().optional(),
  quietBeforeOpenMinutes: QuietBeforeOpen.optional(),
  requireApproval: z.boolean().optional(),
});

const DEFAULT_STAGES: Record<Stage, z.input<typeof StagePolicySchema>> = {
  ci: { enabled: true },
  integration: { enabled: true },
  beta: { enabled: true, requireIntegrationTests: true },
  paper: { enabled: true, requireIntegrationTests: true, marketHours: 'wait' },
  live: { enabled: true, requireIntegrationTests: true, marketHours: 'deny', requireApproval: true },
};

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');
const ExtraClosureSchema = z.union([
  IsoDate.transform((date) => ({ date })),
  z.strictObject({ date: IsoDate, name: z.string().min(1).optional() }),
]);
const ExtraEarlyCloseSchema = z.strictObject({
  date: IsoDate,
  close: z.string().regex(/^\d{2}:\d{2}$/, 'expected HH:mm'),
  name: z.string().min(1).optional(),
});

/**
 * An HTTP header name (an RFC 9110 token) that does not carry a credential: a name no request can
 * hold (a space in it) would leave the proxy's identity unread without a word, and a credential
 * header (the client's own bearer token, forwarded) would become the audited user name.
 */
const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~, no spaces)')
  .refine((h) => !['authorization', 'proxy-authorization', 'cookie'].includes(h.toLowerCase()), 'must not be a header that carries credentials');

/** The secretSha256 of an empty secret. */
const EMPTY_SHA256 = proxySecretDigest('').toString('hex');

/** One proxyAuth.secretSha256 hash. */
const SecretSha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the secret as 64 lowercase hex digits (printf %s "$SECRET" | npm run gate -- proxy-secret hash)')
  // what `printf %s "$SECRET" | sha256sum` gives with SECRET unset: any client can send an
  // empty header (or one of spaces, which HTTP trims to empty) and would match it
  .refine((h) => h !== EMPTY_SHA256, 'is the SHA-256 of an empty secret (was $SECRET unset?): any client could match it with an empty header; hash the real secret');

/**
 * proxyAuth.secretSha256 as a list: 1 or 2 hashes, no two the same. Its entries are checked here
 * rather than by z.array(SecretSha256).min().max(), whose issues (a length, an entry that is no
 * string) end the union's look at the list and leave only its generic message, without the index.
 */
const SecretSha256List = z.array(z.unknown()).superRefine((list, ctx) => {
  if (list.length === 0) ctx.addIssue({ code: 'custom', message: `expected 1 or ${MAX_SECRET_HASHES} hashes (remove the key to trust the peer address alone)` });
  if (list.length > MAX_SECRET_HASHES) ctx.addIssue({ code: 'custom', message: `expected at most ${MAX_SECRET_HASHES} hashes: the old secret's and the new one's while the secret is rotated` });
  for (const [i, h] of list.entries()) {
    const one = SecretSha256.safeParse(h);
    if (!one.success) for (const issue of one.error.issues) ctx.addIssue({ code: 'custom', path: [i], message: issue.message });
    else if (list.indexOf(h) < i) ctx.addIssue({ code: 'custom', path: [i], message: `is the same hash as proxyAuth.secretSha256[${list.indexOf(h)}]` });
  }
});

/** Headers HTTP or the gate reads for their own meaning (the forwarded ones: the client's address, recorded). */
const OTHER_USE_HEADERS = ['host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'expect', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'x-request-id'];

/**
 * A listen address: an IP address or a host name, without a port, a scheme or brackets. Anything
 * else (`0.0.0.0:8080`, `http://0.0.0.0`) would fail only at listen, after the data directory was
 * taken and a first start's tokens made, with exit 1 and a message that does not name the key.
 */
const ListenHost = z
  .string()
  .min(1)
  .refine((h) => isIP(h) !== 0 || (h.length <= 253 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(h)), 'expected an IP address or a host name, without a port (e.g. 0.0.0.0, ::, localhost)');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** where a first start in local mode puts the tokens it creates: on stderr, or in a file only the gate's user can read */
const FIRST_START_TOKENS = ['print', 'file'] as const;

const FileSchema = z.strictObject({
  host: ListenHost.optional(),
  port: z.number().int().min(0).max(65535).optional(),
  dataDir: z.string().min(1).optional(),
  auth: z.enum(['local', 'kubernetes']).optional(),
  firstStartTokens: z.enum(FIRST_START_TOKENS).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  project: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes namespace name').optional(),
  stages: z
    .strictObject({
      ci: StageOverrideSchema.optional(),
      integration: StageOverrideSchema.optional(),
      beta: StageOverrideSchema.optional(),
      paper: StageOverrideSchema.optional(),
      live: StageOverrideSchema.optional(),
    })
    .optional(),
  market: z
    .strictObject({
      extraClosures: z.array(ExtraClosureSchema).default([]),
      extraEarlyCloses: z.array(ExtraEarlyCloseSchema).default([]),
      extraSessions: z.array(ExtraClosureSchema).default([]),
    })
    // the calendar's own check (real dates in 2000-2099, closes between 09:30 and 16:00, no two
    // early closes on one date), so a bad entry is a config error naming its key, here and in the CLI
    .superRefine((market, ctx) => {
      try {
        normalizeMarketExtras(market);
      } catch (err) {
        if (err instanceof MarketExtrasError) ctx.addIssue({ code: 'custom', path: [err.list, err.index], message: `${err.problem} ${err.shown}` });
        else if (err instanceof RangeError) ctx.addIssue({ code: 'custom', message: err.message });
        else throw err;
      }
    })
    .optional(),
  approvals: z
    .strictObject({
      ttlHours: z.number().positive().max(24 * 30).optional(),
      separationOfDuties: z.boolean().optional(),
    })
    .optional(),
  breakGlass: z
    .strictObject({
      defaultTtlMinutes: z.number().int().min(1).optional(),
      // the design's bound: a break-glass grant lives at most 4 h
      maxTtlMinutes: z.number().int().min(1).max(240, 'must be at most 240 (a break-glass grant lives at most 4 h)').optional(),
      requestsPerMinute: z.number().int().min(1).optional(),
    })
    .optional(),
  audit: z
    .strictObject({
      fsync: z.boolean().optional(),
      maxFileBytes: z.number().int().min(4096).optional(),
      refusalRecordsPerMinute: z.number().int().min(1).max(100_000).optional(),
    })
    .optional(),
  kubernetes: z
    .strictObject({
      stagePollSeconds: z.number().int().min(1).max(30).optional(),
      reviewCacheSeconds: z.number().min(0).max(10).optional(),
      apiTimeoutMs: z.number().int().min(100).max(2000).optional(),
      maxReviewsInFlight: z.number().int().min(2).max(4096).optional(),
      imageRepoPrefix: z.string().min(1).optional(),
    })
    .optional(),
  http: z
    .strictObject({
      trustedProxies: z.array(z.string()).optional(),
      maxConnections: z.number().int().min(16).max(65536).optional(),
      maxConnectionsPerClient: z.number().int().min(4).max(65536).optional(),
    })
    .optional(),
  proxyAuth: z
    .strictObject({
      trustedCidrs: z.array(z.string()).optional(),
      userHeader: HeaderName.optional(),
      groupsHeader: HeaderName.optional(),
      // only the hash at rest (a ConfigMap): the proxy holds the secret itself. One hash, or a
      // list of one or two: the old secret's and the new one's while the secret is rotated
      secretSha256: z
        .union([SecretSha256, SecretSha256List], { error: `expected the SHA-256 of the secret as 64 lowercase hex digits, or a list of 1 or ${MAX_SECRET_HASHES} of them` })
        // after the union: a transform inside a branch would hide that branch's own message
        .transform((h) => (typeof h === 'string' ? [h] : (h as string[])))
        .optional(),
      // a header of its own: one HTTP or the gate reads for something else would carry the secret
      // there (X-Forwarded-For becomes a refusal record's client address)
      secretHeader: HeaderName.refine((h) => !OTHER_USE_HEADERS.includes(h.toLowerCase()), 'must be a header of its own, not one HTTP or the gate reads for something else (Host, Content-Type, X-Forwarded-For, ...)').optional(),
    })
    .optional(),
});

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  auth: 'local' | 'kubernetes';
  /** `print`: on stderr (a terminal); `file`: in <dataDir>/first-start-tokens, mode 0600 (a container, whose stderr is shipped to a log store) */
  firstStartTokens: (typeof FIRST_START_TOKENS)[number];
  logLevel: (typeof LOG_LEVELS)[number];
  /** GATE_NOW: the clock starts here and runs on (demos and tests) */
  now: string | null;
  configFile: string | null;
  project: string;
  stages: Record<Stage, StagePolicy>;
  market: {
    extraClosures: { date: string; name?: string }[];
    extraEarlyCloses: { date: string; close: string; name?: string }[];
    extraSessions: { date: string; name?: string }[];
  };
  approvals: { ttlHours: number; separationOfDuties: boolean };
  breakGlass: { defaultTtlMinutes: number; maxTtlMinutes: number; requestsPerMinute: number };
  /** refusalRecordsPerMinute: refusals recorded one by one per client (unauthenticated) or per identity (authenticated) and minute; the rest are counted in one summary record */
  audit: { fsync: boolean; maxFileBytes: number; refusalRecordsPerMinute: number };
  kubernetes: { stagePollSeconds: number; reviewCacheSeconds: number; apiTimeoutMs: number; maxReviewsInFlight: number; imageRepoPrefix: string };
  /**
   * trustedProxies: peers whose X-Forwarded-For names the client (refusal records, refusal budgets,
   * the TokenReview slots one client may hold);
   * maxConnections: open connections at most, past which a new one is closed at once;
   * maxConnectionsPerClient: the same from one peer address (not trustedProxies; proxyAuth.trustedCidrs are held to it)
   */
  http: { trustedProxies: string[]; maxConnections: number; maxConnectionsPerClient: number };
  /**
   * secretSha256: hex SHA-256 of the secret the proxy adds to every request (in secretHeader), two
   * while it is rotated (either secret is right), or none: the identity headers are then trusted by
   * the peer address alone
   */
  proxyAuth: { trustedCidrs: string[]; userHeader: string; groupsHeader: string; secretSha256: string[]; secretHeader: string };
}

/** A configuration that cannot be used; the message names the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** 2100-01-01 00:00 in New York (EST, UTC-5): the market calendar ends there */
const NEW_YORK_2100_MS = Date.parse('2100-01-01T05:00:00Z');
/**
 * GATE_NOW must leave the clock this long before the calendar's end: it runs on, and past the end
 * every decision, status and market answer is a 503 (a gate started a second before would be
 * useless a second later)
 */
const GATE_NOW_END_MARGIN_MS = 60 * 60 * 1000;

const EnvSchema = z.object({
  GATE_HOST: ListenHost.optional(),
  GATE_PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'expected a port number 0..65535')
    .transform(Number)
    .refine((n) => n <= 65535, 'expected a port number 0..65535')
    .optional(),
  GATE_DATA_DIR: z.string().min(1).optional(),
  GATE_CONFIG: z.string().min(1).optional(),
  GATE_AUTH: z.enum(['local', 'kubernetes']).optional(),
  GATE_FIRST_START_TOKENS: z.enum(FIRST_START_TOKENS).optional(),
  GATE_LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
  GATE_NOW: z.iso
    .datetime({ offset: true })
    // the calendar answers by New York date: an evening of 2099-12-31 in New York is already 2100
    // in UTC (start-up then refuses what the calendar cannot answer for, such as 1999 in New York)
    .refine((v) => {
      const ms = Date.parse(v);
      return new Date(ms).getUTCFullYear() >= 2000 && ms < NEW_YORK_2100_MS - GATE_NOW_END_MARGIN_MS;
    }, 'expected an instant in 2000-2099 (the market calendar covers those years), at least an hour before 2100-01-01 00:00 New York time (the clock runs on, and past the calendar the gate decides nothing)')
    .optional(),
  GATE_PROJECT: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes namespace name').optional(),
});

/** The GATE_* variables the gate reads. */
export const GATE_ENV_KEYS: readonly string[] = Object.keys(EnvSchema.shape);

/**
 * Whether `key` is one of the variables Kubernetes sets in every pod for each Service of its
 * namespace (service links): for a Service `gate-service`, GATE_SERVICE_SERVICE_HOST,
 * GATE_SERVICE_SERVICE_PORT[_<port name>], GATE_SERVICE_PORT=tcp://… and
 * GATE_SERVICE_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. Recognised as a family: <P>_SERVICE_HOST
 * set and <P>_PORT a protocol URL, for some prefix <P> of the name.
 */
function isServiceLink(key: string, env: Record<string, string | undefined>): boolean {
  for (let i = key.indexOf('_'); i !== -1; i = key.indexOf('_', i + 1)) {
    const prefix = key.slice(0, i);
    const rest = key.slice(i + 1);
    if (!/^(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$/.test(rest)) continue;
    if (env[`${prefix}_SERVICE_HOST`] !== undefined && /^(tcp|udp|sctp):\/\//.test(env[`${prefix}_PORT`] ?? '')) return true;
  }
  return false;
}

/**
 * GATE_* variables set but not read by the gate (a typo such as GATE_LOGLEVEL), for a start-up
 * warning. Kubernetes' service links are not counted: the chart's Service `gate-service` puts
 * eight GATE_SERVICE_* variables in the gate's pod, and would be warned about as typos at every start.
 */
export function unknownGateEnv(env: Record<string, string | undefined>): string[] {
  return Object.keys(env)
    .filter((k) => k.startsWith('GATE_') && !GATE_ENV_KEYS.includes(k) && !isServiceLink(k, env))
    .sort();
}

/** The key as the file spells it: market.extraClosures[0].date */
function keyOf(prefix: string, path: readonly PropertyKey[]): string {
  let key = prefix;
  for (const p of path) key = typeof p === 'number' ? `${key}[${p}]` : key ? `${key}.${String(p)}` : String(p);
  return key;
}

function describe(prefix: string, error: z.ZodError): string {
  // an issue of the whole file (an unknown top-level key, a file that is not a mapping) has no key
  return error.issues.map((i) => `${keyOf(prefix, i.path) || '(top level)'}: ${i.message}`).join('; ');
}

/** The text of the GATE_CONFIG file; ConfigError `GATE_CONFIG=<path>: <reason>` for any read error (missing, a directory, unreadable). */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`GATE_CONFIG=${path}: ${(err as Error).message}`);
  }
}

/**
 * The YAML of a config file as plain JSON values. Only YAML 1.2's core types: the library would
 * otherwise resolve YAML 1.1's `!!omap`, `!!set` and `!!timestamp` into a Map, a Set or a Date,
 * which the schemas' strict objects take as an object with no keys, so every setting inside one
 * was dropped without a word (`market: !!omap [...]` started the gate with no extra closure). Any
 * tag the core schema does not know (those, or a custom `!foo`) is refused, naming its line.
 */
function parseYamlStrictly(text: string): unknown {
  // the core schema whatever the file says: a `%YAML 1.1` directive would switch the library to
  // its 1.1 schema, which knows those tags (and reads `yes` as true, 2026-11-27 as a Date)
  const doc = parseDocument(text, { resolveKnownTags: false, schema: 'core' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  return doc.toJS();
}

/**
 * Builds the configuration from environment variables and the YAML text of GATE_CONFIG (if any).
 * Throws ConfigError naming the offending key. Empty environment values count as unset.
 */
export function parseConfig(env: Record<string, string | undefined>, fileText: string | null = null): Config {
  const cleanEnv = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('GATE_') && v !== undefined && v !== ''));
  const envResult = EnvSchema.safeParse(cleanEnv);
  if (!envResult.success) throw new ConfigError(`invalid environment: ${describe('', envResult.error)}`);
  const e = envResult.data;

  let raw: unknown = {};
  if (fileText !== null) {
    try {
      raw = parseYamlStrictly(fileText) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${e.GATE_CONFIG ?? ''} is not valid YAML: ${(err as Error).message}`);
    }
  }
  const fileResult = FileSchema.safeParse(raw);
  /** A ConfigError about the file's content, naming the file (GATE_CONFIG) when there is one. */
  const fileError = (message: string) => new ConfigError(`invalid config file${e.GATE_CONFIG ? ` ${e.GATE_CONFIG}` : ''}: ${message}`);
  if (!fileResult.success) throw fileError(describe('', fileResult.error));
  const f = fileResult.data;

  const stages = Object.fromEntries(
    STAGES.map((s) => [s, StagePolicySchema.parse({ ...DEFAULT_STAGES[s], ...(f.stages?.[s] ?? {}) })]),
  ) as Record<Stage, StagePolicy>;
  for (const s of ['ci', 'integration'] as const) {
    if (stages[s].marketHours || stages[s].requireApproval || stages[s].requireIntegrationTests || stages[s].quietBeforeOpenMinutes) {
      throw fileError(`stages.${s}: only "enabled" applies to the ${s} stage (it runs in GitHub Actions)`);
    }
  }

  const breakGlass = {
    defaultTtlMinutes: f.breakGlass?.defaultTtlMinutes ?? 30,
    maxTtlMinutes: f.breakGlass?.maxTtlMinutes ?? 240,
    requestsPerMinute: f.breakGlass?.requestsPerMinute ?? 10,
  };
  if (breakGlass.defaultTtlMinutes > breakGlass.maxTtlMinutes) {
    throw fileError('breakGlass.defaultTtlMinutes: must not exceed breakGlass.maxTtlMinutes');
  }
  const http = {
    trustedProxies: f.http?.trustedProxies ?? [],
    maxConnections: f.http?.maxConnections ?? 1024,
    maxConnectionsPerClient: f.http?.maxConnectionsPerClient ?? 256,
  };
  const proxyAuthCidrs = f.proxyAuth?.trustedCidrs ?? [];
  // both address lists are checked here, so a bad entry stops the gate before it opens its data
  for (const [key, cidrs] of [
    ['http.trustedProxies', http.trustedProxies],
    ['proxyAuth.trustedCidrs', proxyAuthCidrs],
  ] as const) {
    try {
      parseCidrs(cidrs, key);
    } catch (err) {
      throw fileError((err as Error).message);
    }
  }
  const proxyAuth = {
    trustedCidrs: proxyAuthCidrs,
    userHeader: (f.proxyAuth?.userHeader ?? 'X-Auth-Request-User').toLowerCase(),
    groupsHeader: (f.proxyAuth?.groupsHeader ?? 'X-Auth-Request-Groups').toLowerCase(),
    secretSha256: f.proxyAuth?.secretSha256 ?? [],
    secretHeader: (f.proxyAuth?.secretHeader ?? DEFAULT_SECRET_HEADER).toLowerCase(),
  };
  // one header for two things: the user header would be checked as the secret, and the secret
  // read as the user name (and audited as it)
  for (const [key, other] of [
    ['userHeader', proxyAuth.userHeader],
    ['groupsHeader', proxyAuth.groupsHeader],
  ] as const) {
    if (proxyAuth.secretHeader === other) throw fileError(`proxyAuth.secretHeader: must not be the same header as proxyAuth.${key}`);
  }
  // the user's name read as their groups: in local mode a user named "admin" would be an admin
  if (proxyAuth.groupsHeader === proxyAuth.userHeader) throw fileError('proxyAuth.groupsHeader: must not be the same header as proxyAuth.userHeader');

  return {
    host: e.GATE_HOST ?? f.host ?? '127.0.0.1',
    port: e.GATE_PORT ?? f.port ?? 8080,
    dataDir: e.GATE_DATA_DIR ?? f.dataDir ?? './data',
    auth: e.GATE_AUTH ?? f.auth ?? 'local',
    firstStartTokens: e.GATE_FIRST_START_TOKENS ?? f.firstStartTokens ?? 'print',
    logLevel: e.GATE_LOG_LEVEL ?? f.logLevel ?? 'info',
    now: e.GATE_NOW ?? null,
    configFile: e.GATE_CONFIG ?? null,
    project: e.GATE_PROJECT ?? f.project ?? 'stonks-pipeline',
    stages,
    market: { extraClosures: f.market?.extraClosures ?? [], extraEarlyCloses: f.market?.extraEarlyCloses ?? [], extraSessions: f.market?.extraSessions ?? [] },
    approvals: { ttlHours: f.approvals?.ttlHours ?? 24, separationOfDuties: f.approvals?.separationOfDuties ?? false },
    breakGlass,
    audit: { fsync: f.audit?.fsync ?? true, maxFileBytes: f.audit?.maxFileBytes ?? 64 * 1024 * 1024, refusalRecordsPerMinute: f.audit?.refusalRecordsPerMinute ?? 120 },
    kubernetes: {
      stagePollSeconds: f.kubernetes?.stagePollSeconds ?? 30,
      reviewCacheSeconds: f.kubernetes?.reviewCacheSeconds ?? 10,
      apiTimeoutMs: f.kubernetes?.apiTimeoutMs ?? 2000,
      maxReviewsInFlight: f.kubernetes?.maxReviewsInFlight ?? 64,
      imageRepoPrefix: f.kubernetes?.imageRepoPrefix ?? 'ghcr.io/celesrenata/stonks-oracle/',
    },
    http,
    proxyAuth,
  };
}
