// Pure helpers of the console: no DOM, no fetch. Loaded by the page and by the unit tests.

export const ET = 'America/New_York';

/**
 * "2d 3h 04m", "5h 59m 59s", "4m 05s", "12s": a duration in milliseconds (negative counts as 0).
 * Seconds are shown below a day.
 */
export function formatDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const p = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${h}h ${p(m)}m`;
  if (h > 0) return `${h}h ${p(m)}m ${p(s)}s`;
  if (m > 0) return `${m}m ${p(s)}s`;
  return `${s}s`;
}

/** A countdown: rounded up to the second, so the last second before an instant shows 1s, and 0s only from the instant on. */
export function formatCountdown(ms) {
  return formatDuration(Math.ceil(Math.max(0, ms) / 1000) * 1000);
}

/** The short form of an image tag: the first 7 characters of a Git SHA, other tags as they are (long ones cut). */
export function shortTag(tag) {
  if (typeof tag !== 'string') return '';
  if (/^[0-9a-f]{12,64}$/i.test(tag)) return tag.slice(0, 7);
  return tag.length > 24 ? `${tag.slice(0, 23)}…` : tag;
}

const fmtCache = new Map();
function fmt(timeZone, opts) {
  const key = `${timeZone ?? ''}|${JSON.stringify(opts)}`;
  let f = fmtCache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { ...opts, ...(timeZone ? { timeZone } : {}), hourCycle: 'h23' });
    fmtCache.set(key, f);
  }
  return f;
}

/** "14:05" (or "14:05:09" with seconds) of an instant in a time zone (the viewer's when tz is undefined). */
export function clockTime(iso, tz, seconds = false) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  return fmt(tz, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) }).format(t);
}

/** "Wed 25 Nov 2026" of an instant in a time zone. */
export function dayLabel(iso, tz) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  return fmt(tz, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).format(t);
}

/** "Wed 25 Nov 2026 14:05:09 ET": an instant for the audit table and lists. */
export function stamp(iso, tz = ET) {
  if (!iso) return '';
  const label = tz === ET ? 'ET' : '';
  return `${dayLabel(iso, tz)} ${clockTime(iso, tz, true)}${label ? ` ${label}` : ''}`;
}

/**
 * "16:30:00 ET" of `iso` when it falls on the ET day of `since`, else the whole stamp with its
 * date ("Thu, 26 Nov 2026 01:30:00 ET"): a grant issued at 21:30 and valid 4 h expires the next day.
 */
export function laterStamp(iso, since) {
  if (!iso) return '';
  return dayLabel(iso, ET) === dayLabel(since, ET) ? `${clockTime(iso, ET, true)} ET` : stamp(iso);
}

/**
 * The viewer's local time of an instant, "22:00", with the local date in front when it is not the
 * ET date ("Sat, 28 Nov 2026 03:00"): next to an ET time and date, a bare local time would name
 * the wrong day.
 */
export function localTime(iso, seconds = false) {
  const local = dayLabel(iso);
  const time = clockTime(iso, undefined, seconds);
  return local === dayLabel(iso, ET) ? time : `${local} ${time}`;
}

/** "Wed, 25 Nov 2026 15:30–22:00" in the viewer's zone, naming both days when the session crosses midnight there. */
export function localRange(openIso, closeIso) {
  const d1 = dayLabel(openIso);
  const d2 = dayLabel(closeIso);
  return d1 === d2 ? `${d1} ${clockTime(openIso)}–${clockTime(closeIso)}` : `${d1} ${clockTime(openIso)} – ${d2} ${clockTime(closeIso)}`;
}

/** The viewer's time zone name (e.g. Europe/Berlin). */
export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
}

/**
 * "your time (Europe/Berlin) 22:00": the viewer's local time of an instant (localTime), naming the
 * zone as the market clock's "Your time (Europe/Berlin)" does: beside an ET time, "your time" alone
 * leaves the reader to guess which zone the browser is in.
 */
export function yourTime(iso, seconds = false) {
  return `your time (${localZone()}) ${localTime(iso, seconds)}`;
}

/** Human words for GET /v1/market's reason (and the holiday or closure name when there is one). */
export function marketReasonText(market) {
  const close = market.session ? clockTime(market.session.close, ET) : null;
  switch (market.reason) {
    case 'open':
      return market.session?.earlyClose ? `Regular session open; early close today at ${close} ET` : `Regular session open until ${close} ET`;
    case 'pre_open':
      return `Before the opening bell${market.session ? ` (opens ${clockTime(market.session.open, ET)} ET)` : ''}`;
    case 'after_close':
      return 'After the close (outside regular trading hours)';
    case 'early_close':
      return `Early close: the session ended at ${close ?? '13:00'} ET${market.holiday ? ` (${market.holiday})` : ''}`;
    case 'weekend':
      return 'Weekend: the exchange is closed';
    case 'holiday':
      return `Holiday: ${market.holiday ?? 'exchange holiday'}`;
    case 'closure':
      return `Exchange closed: ${market.holiday ?? 'special closure'}`;
    default:
      return String(market.reason);
  }
}

/** Milliseconds from `nowMs` to the next market change, and what it is ("close" or "open"). */
export function nextChange(market, nowMs) {
  const target = market.open ? market.nextClose : market.nextOpen;
  return { what: market.open ? 'close' : 'open', at: target, ms: Date.parse(target) - nowMs };
}

/**
 * The image tag to prefill for a stage: the newest promotion waiting there, else the stage's
 * candidate (the tag of the stage before it), else the tag of the stage's last decision.
 */
export function candidateTag(status, stage) {
  return candidate(status, stage).tag;
}

/** candidateTag with where it comes from ("waiting in live", "deployed in paper", "live's last decision"; '' for no tag). */
export function candidate(status, stage) {
  const waiting = (status.waiting ?? []).filter((w) => w.stage === stage);
  if (waiting.length > 0) return { tag: waiting[waiting.length - 1].imageTag, from: `waiting in ${stage}` };
  const names = status.stages.map((s) => s.name);
  const i = names.indexOf(stage);
  const before = i > 0 ? status.stages[i - 1] : null;
  if (before?.deployed?.imageTag) return { tag: before.deployed.imageTag, from: `deployed in ${before.name}` };
  const own = status.stages[i];
  return own?.lastDecision?.imageTag ? { tag: own.lastDecision.imageTag, from: `${stage}'s last decision` } : { tag: '', from: '' };
}

/**
 * What the market means for a stage right now: 'blocked', 'open', 'disabled' or null (no market
 * policy). Blocked as the gate says (blockedByMarket: the session is open, or opens within the
 * stage's quietBeforeOpenMinutes); a gate from before that field: while the session is open.
 */
export function marketGate(stage, market) {
  if (!stage.policy.marketHours) return null;
  if (!stage.enabled) return 'disabled';
  return (stage.blockedByMarket ?? market.open) ? 'blocked' : 'open';
}

/** When a stage's market-hours hold begins again: the next open, less its quietBeforeOpenMinutes (ISO). */
export function holdStartsAt(stage, market) {
  const quiet = stage.policy.quietBeforeOpenMinutes ?? 0;
  return quiet > 0 ? new Date(Date.parse(market.nextOpen) - quiet * 60_000).toISOString().replace('.000Z', 'Z') : market.nextOpen;
}

/** An OCI tag as the API accepts it. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** The audit record's fields in a fixed order, then any others; each value as display text. */
export function recordFields(record) {
  const order = ['seq', 'at', 'type', 'id', 'actor', 'requestedBy', 'project', 'stage', 'imageTag', 'promotion', 'decision', 'reasons', 'breakGlass', 'approval', 'data', 'v', 'prev', 'hash'];
  const keys = [...order.filter((k) => k in record), ...Object.keys(record).filter((k) => !order.includes(k)).sort()];
  return keys.map((k) => [k, displayValue(record[k])]);
}

/** A JSON value as one line of text: strings as they are, null as "—", the rest as JSON. */
export function displayValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * What switching stage `name` off (turnOn false) or on does, from the stages of /v1/status (their
 * policies, in promotion order): words for the stage toggle's confirmation dialog.
 */
export function toggleEffect(name, turnOn, stages) {
  const i = stages.findIndex((s) => s.name === name);
  const p = stages[i]?.policy ?? {};
  const list = (xs) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);
  // a stage needs a test result only while the integration stage is on (decide.ts), and a stage
  // that is off passes its promotions through whatever its policy says
  const integrationOn = stages.find((s) => s.name === 'integration')?.enabled !== false;
  const testedStages = () => stages.filter((s) => s.enabled && s.policy?.requireIntegrationTests).map((s) => s.name);
  if (turnOn) {
    const checks = [p.requireIntegrationTests && integrationOn ? 'a passing integration-test result' : null, p.marketHours ? `the market-hours hold (${p.marketHours})` : null, p.requireApproval ? 'an approval' : null].filter(Boolean);
    const own = checks.length ? ` They need ${list(checks)} again.` : '';
    const extra =
      name === 'integration'
        ? ` The CI pipeline runs the integration tests again, and ${list(testedStages()) || 'no stage'} need a passing test result again.`
        : name === 'ci'
          ? ' The CI pipeline runs lint-test, the image builds and integration again.'
          : '';
    return `Promotions into ${name} are no longer passed through: the gate checks them again.${own}${extra}`;
  }
  const next = stages.slice(i + 1).find((s) => s.enabled)?.name;
  const parts = [`Every promotion into ${name} is allowed at once (skip) with no checks${next ? `, and the freight flows on to ${next}` : ''}.`];
  if (p.marketHours) parts.push(`${name} promotions go through while the market is open, with no break-glass.`);
  if (p.requireApproval) parts.push(`${name} promotions need no approval.`);
  if (p.requireIntegrationTests && integrationOn) parts.push(`${name} promotions need no passing integration-test result.`);
  if (name === 'ci') parts.push('The CI pipeline skips lint-test, the image builds and integration.');
  if (name === 'integration') {
    const needing = testedStages();
    parts.push(`The CI pipeline skips the integration tests, and the gate drops the test requirement${needing.length ? ` of ${list(needing)}` : ''}: their promotions no longer need a passing integration-test result.`);
  }
  return parts.join(' ');
}
