// Views: functions from gate data to DOM nodes. No fetching and no state of their own.
// Times are rendered with data-until / data-since attributes that the clock tick keeps current.

import { h, icon } from './dom.js';
import { ET, clockTime, dayLabel, holdStartsAt, laterStamp, localRange, localZone, marketGate, marketReasonText, nextChange, recordFields, shortTag, stamp, yourTime } from './format.js';

/** A countdown to `iso` (kept current by the tick). */
export const until = (iso, key) => h('span', { class: 'countdown', dataset: { until: iso }, 'data-key': key ?? null }, '');
/** Time elapsed since `iso` (kept current by the tick). */
export const since = (iso) => h('span', { class: 'elapsed', dataset: { since: iso } }, '');

/**
 * The name of an image tag's copy button: "Copy image tag <tag>", or with what a press did in
 * place of "Copy" (its aria-label, which screen readers read instead of the word shown).
 */
export const copyTagLabel = (tag, said = 'Copy') => `${said} image tag ${tag}`;

/** An image tag: the short form, the full one on hover and in the copy button's label. */
export function tagView(tag, key) {
  if (!tag) return h('span', { class: 'muted' }, 'none');
  return h(
    'span',
    { class: 'tag' },
    h('code', { class: 'sha', title: tag }, shortTag(tag)),
    ' ',
    h('button', { type: 'button', class: 'copy small', 'data-copy': tag, 'data-key': key ?? null, 'aria-label': copyTagLabel(tag), title: `Copy ${tag}` }, icon('copy'), h('span', { class: 'copy-label' }, 'Copy')),
  );
}

/** A decision word with an icon: ALLOW, WAIT, DENY. */
export function decisionBadge(decision) {
  const ic = decision === 'allow' ? 'check' : decision === 'wait' ? 'clock' : 'blocked';
  return h('span', { class: `badge d-${decision}` }, icon(ic), decision.toUpperCase());
}

function reasonList(reasons) {
  if (!reasons || reasons.length === 0) return null;
  return h(
    'ul',
    { class: 'reasons' },
    reasons.map((r) => h('li', {}, h('code', { class: 'code' }, r.code), r.effect ? ` (${r.effect}) ` : ' ', r.message)),
  );
}

/**
 * Open/closed with the why, the live countdown, and this and the next session in ET and local
 * time. `held`: the names of the enabled stages whose policy holds promotions while the market is open.
 */
export function marketView(market, nextSession, nowMs, held = []) {
  const change = nextChange(market, nowMs);
  const zone = localZone();
  const sessionBlock = (title, s) =>
    s
      ? h(
          'div',
          { class: 'session' },
          h('h3', {}, title),
          h(
            'dl',
            {},
            h('dt', {}, 'Date'),
            h('dd', {}, dayLabel(s.open, ET), s.earlyClose ? ' (early close)' : ''),
            h('dt', {}, 'New York (ET)'),
            h('dd', {}, `${clockTime(s.open, ET)}–${clockTime(s.close, ET)}`),
            h('dt', {}, `Your time (${zone})`),
            h('dd', {}, localRange(s.open, s.close)),
          ),
        )
      : null;
  return [
    h(
      'p',
      { class: `market-state ${market.open ? 'is-open' : 'is-closed'}`, id: 'market-state' },
      icon(market.open ? 'live' : 'pause'),
      market.open ? 'Market OPEN' : 'Market CLOSED',
    ),
    h('p', { id: 'market-reason' }, marketReasonText(market)),
    h(
      'p',
      { class: 'countdown-line', id: 'market-countdown' },
      market.open ? 'Closes in ' : 'Opens in ',
      h('strong', {}, until(change.at)),
      ` — at ${clockTime(change.at, ET)} ET on ${dayLabel(change.at, ET)} · ${yourTime(change.at)}`,
    ),
    market.open
      ? h(
          'p',
          { class: 'hint' },
          held.length
            ? `While the market is open, ${held.length === 1 ? held[0] : `${held.slice(0, -1).join(', ')} and ${held.at(-1)}`} promotions are held unless a break-glass grant covers them.`
            : 'No enabled stage holds its promotions for the market.',
        )
      : null,
    market.open ? sessionBlock('This session', market.session) : null,
    sessionBlock('Next session', nextSession),
  ];
}

/** One stage of the pipeline row. */
export function stageView(stage, index, market) {
  const gate = marketGate(stage, market);
  const last = stage.lastDecision;
  const p = stage.policy;
  const rules = [p.requireIntegrationTests ? 'integration tests required' : null, p.marketHours ? `market hours: ${p.marketHours}${p.quietBeforeOpenMinutes ? ` (from ${p.quietBeforeOpenMinutes} min before the open)` : ''}` : null, p.requireApproval ? 'approval required' : null].filter(Boolean);
  return h(
    'li',
    { class: `stage ${stage.enabled ? 'is-enabled' : 'is-disabled'} ${gate ? `gate-${gate}` : ''}`, id: `stage-${stage.name}`, 'aria-labelledby': `stage-${stage.name}-h` },
    h('h3', { id: `stage-${stage.name}-h` }, h('span', { class: 'step' }, `${index + 1}`), stage.name),
    h(
      'p',
      { class: `badge ${stage.enabled ? 'on' : 'off'}`, 'data-field': 'enabled' },
      icon(stage.enabled ? 'check' : 'pause'),
      stage.enabled ? 'ENABLED' : 'DISABLED',
    ),
    !stage.enabled && stage.note ? h('p', { class: 'note' }, `Off: “${stage.note}”${stage.changedBy ? ` — ${stage.changedBy}` : ''}${stage.changedAt ? `, ${stamp(stage.changedAt)}` : ''}`) : null,
    gate === 'blocked'
      ? h(
          'p',
          { class: 'gate blocked', 'data-field': 'market-gate' },
          icon('blocked'),
          h('strong', {}, 'BLOCKED'),
          ` for `,
          until(market.nextClose),
          ` — until the ${clockTime(market.nextClose, ET)} ET close (promotions ${p.marketHours === 'deny' ? 'are denied' : 'wait'})`,
        )
      : gate === 'open'
        ? h(
            'p',
            { class: 'gate open', 'data-field': 'market-gate' },
            icon('check'),
            h('strong', {}, 'OPEN'),
            p.quietBeforeOpenMinutes ? ` — market closed; held again ${p.quietBeforeOpenMinutes} min before the next open, in ` : ' — market closed; held again at the next open, in ',
            until(holdStartsAt(stage, market)),
          )
        : gate === 'disabled'
          ? h('p', { class: 'gate passed', 'data-field': 'market-gate' }, icon('pause'), h('strong', {}, 'PASSED THROUGH'), ' — stage disabled')
          : null,
    rules.length ? h('p', { class: 'policy' }, rules.join(' · ')) : h('p', { class: 'policy' }, 'no gate policy'),
    h(
      'div',
      { class: 'deployed', 'data-field': 'deployed' },
      // Kargo's current freight that only passed through the stage while it was off: never deployed there
      h('span', { class: 'label' }, stage.deployed?.passedThrough ? 'Passed through, not deployed: ' : 'Deployed: '),
      tagView(stage.deployed?.imageTag ?? null, `copy-deployed-${stage.name}`),
      stage.deployed
        ? h(
            'span',
            { class: 'muted' },
            ` ${stage.deployed.source === 'kargo' ? (stage.deployed.passedThrough ? "current freight in Kargo, let through while the stage was off (the gate skipped the stage's steps)" : 'current freight in Kargo') : 'last allowed by the gate'}${stage.deployed.at ? `, ${stamp(stage.deployed.at)}` : ''}`,
          )
        : null,
    ),
    h(
      'div',
      { class: 'last', 'data-field': 'last-decision' },
      h('span', { class: 'label' }, 'Last decision: '),
      last
        ? [
            decisionBadge(last.decision),
            last.skip ? ' (skipped: stage off) ' : ' ',
            h('code', { class: 'sha', title: last.imageTag }, shortTag(last.imageTag)),
            h('span', { class: 'muted' }, ` ${stamp(last.at)}${last.promotion ? ` · ${last.promotion}` : ''}`),
            reasonList(last.reasons),
          ]
        : h('span', { class: 'muted' }, 'none yet'),
    ),
  );
}

/** The promotions the gate holds with `wait`, each with actions that prefill a form. */
export function waitingView(status, actions) {
  if (status.waiting.length === 0) return [h('p', { class: 'empty' }, icon('check'), 'Nothing is waiting.')];
  return [
    h(
      'ul',
      { class: 'waiting-list' },
      status.waiting.map((w) => {
        const codes = w.reasons.map((r) => r.code);
        return h(
          'li',
          { class: 'waiting-item', dataset: { stage: w.stage, promotion: w.promotion } },
          h('p', {}, h('strong', {}, w.stage), ' · ', tagView(w.imageTag, `copy-wait-${w.promotion}`), ' · promotion ', h('code', {}, w.promotion)),
          h('p', {}, icon('clock'), 'Waiting for ', h('strong', {}, since(w.since)), ` (since ${stamp(w.since)}; last checked ${laterStamp(w.lastSeen, w.since)})`),
          reasonList(w.reasons),
          h(
            'p',
            { class: 'actions' },
            codes.includes('market_open') || codes.includes('market_opening')
              ? h('button', { type: 'button', 'data-key': `bg-${w.promotion}`, on: { click: () => actions.breakGlass(w) } }, `Break-glass for ${w.stage}…`)
              : null,
            codes.includes('awaiting_approval')
              ? h('button', { type: 'button', 'data-key': `ap-${w.promotion}`, on: { click: () => actions.approve(w) } }, `Approve for ${w.stage}…`)
              : null,
          ),
        );
      }),
    ),
  ];
}

/** Open break-glass grants with a revoke button. */
export function grantsView(grants, canRevoke, onRevoke) {
  if (grants.length === 0) return [h('p', { class: 'empty' }, 'No open grants.')];
  return [
    h(
      'ul',
      { class: 'grant-list' },
      grants.map((g) =>
        h(
          'li',
          { class: 'grant', dataset: { id: g.id } },
          h('p', {}, icon('key'), h('strong', {}, g.stage), ' · ', tagView(g.imageTag, `copy-grant-${g.id}`), ` · by ${g.requestedBy}`),
          h('p', {}, `Issued ${stamp(g.issuedAt)}; expires ${laterStamp(g.expiresAt, g.issuedAt)} (in `, until(g.expiresAt), ')'),
          h('p', { class: 'prewrap' }, 'Justification: ', g.justification),
          h(
            'button',
            { type: 'button', class: 'danger', 'data-key': `revoke-${g.id}`, disabled: !canRevoke, on: { click: () => onRevoke(g) } },
            `Revoke grant for ${g.stage}`,
          ),
        ),
      ),
    ),
  ];
}

/** Pending (unused, unexpired) approvals, each with a revoke button. */
export function approvalsView(approvals, canRevoke, onRevoke) {
  if (approvals.length === 0) return [h('p', { class: 'empty' }, 'No pending approvals.')];
  return [
    h(
      'ul',
      { class: 'approval-list' },
      approvals.map((a) =>
        h(
          'li',
          { class: 'approval', dataset: { id: a.id } },
          h('p', {}, icon('check'), h('strong', {}, a.stage), ' · ', tagView(a.imageTag, `copy-ap-${a.id}`), ` · approved by ${a.approvedBy}`),
          h('p', {}, `At ${stamp(a.approvedAt)}; expires in `, until(a.expiresAt)),
          h('p', { class: 'prewrap' }, 'Notes: ', a.notes),
          h(
            'button',
            { type: 'button', class: 'danger', 'data-key': `revoke-${a.id}`, disabled: !canRevoke, on: { click: () => onRevoke(a) } },
            `Revoke approval for ${a.stage}`,
          ),
        ),
      ),
    ),
  ];
}

/** A record's details; `open`: its "All fields" shown (as it was before a re-render). */
function detailsOf(r, open = false) {
  const out = [];
  if (r.promotion) out.push(h('p', {}, 'Promotion: ', h('code', {}, r.promotion)));
  if (r.requestedBy) out.push(h('p', {}, `Requested by (caller's claim): ${r.requestedBy}`));
  const rl = reasonList(r.reasons);
  if (rl) out.push(rl);
  if (r.breakGlass) {
    const bg = r.breakGlass;
    if (bg.justification) out.push(h('p', { class: 'prewrap' }, h('strong', {}, 'Break-glass justification: '), String(bg.justification)));
    const more = [bg.id ? `grant ${bg.id}` : null, bg.requestedBy ? `requested by ${bg.requestedBy}` : null, bg.expiresAt ? `expires ${stamp(String(bg.expiresAt))}` : null].filter(Boolean);
    if (more.length) out.push(h('p', {}, more.join(' · ')));
  }
  if (r.approval) {
    const ap = r.approval;
    if (ap.notes) out.push(h('p', { class: 'prewrap' }, h('strong', {}, 'Approval notes: '), String(ap.notes)));
    if (ap.approvedBy) out.push(h('p', {}, `approved by ${ap.approvedBy}`));
  }
  const d = r.data ?? {};
  if (r.type === 'stage.toggled') out.push(h('p', { class: 'prewrap' }, h('strong', {}, d.enabled ? 'Turned on: ' : 'Turned off: '), `“${d.note ?? ''}”`));
  if (r.type === 'refusal' && d.suppressed !== undefined) {
    const counts = Object.entries(d.byError ?? {}).map(([k, n]) => `${n} × ${k}`).join(', ');
    // a client's summary names its address; an identity's names who (or, for the identities past
    // the gate's limit, the first names), with the addresses its requests came from
    const who = d.identity
      ? `of ${d.identity.name} (${d.identity.via})`
      : Array.isArray(d.remoteAddresses)
        ? `of ${(d.presented ?? []).join(', ') || 'several identities'}`
        : `from ${d.remoteAddress ?? '?'}`;
    const from = Array.isArray(d.remoteAddresses) && d.remoteAddresses.length ? `; from ${d.remoteAddresses.join(', ')}` : '';
    out.push(h('p', {}, h('strong', {}, `${d.suppressed} refusals ${who} counted, not recorded one by one`), counts || from ? ` (${[counts, from.slice(2)].filter(Boolean).join('; ')})` : ''));
  } else if (r.type === 'refusal') out.push(h('p', {}, h('strong', {}, `Refused with HTTP ${d.status ?? '?'}`), d.method ? ` (${d.method} ${d.path ?? ''})` : ''));
  if (r.type === 'testresult.recorded' && d.summary) out.push(h('p', {}, `Tests ${d.summary.passed ? 'passed' : 'failed'} (exit code ${d.summary.exitCode ?? '?'})`));
  out.push(
    h(
      'details',
      { class: 'all-fields', open },
      h('summary', { 'data-key': `details-${r.seq}` }, 'All fields'),
      h('dl', {}, recordFields(r).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    ),
  );
  return out;
}

/** The audit table (it stacks into cards on narrow screens). */
/**
 * The audit page's rows; `partial`: the gate stopped searching before the page was full;
 * `openSeqs`: the seqs (strings) whose "All fields" are open.
 */
export function auditTable(records, partial = false, openSeqs = new Set()) {
  if (records.length === 0) {
    return [h('p', { class: 'empty' }, partial ? 'No matches among the records searched so far. Older searches further back.' : 'No records match.')];
  }
  const cols = ['Seq', 'When (ET)', 'Type', 'Who', 'Stage', 'Image tag', 'Decision', 'Details'];
  return [
    h(
      'table',
      { class: 'audit-table' },
      h('caption', { class: 'sr-only' }, 'Audit records, newest first'),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        records.map((r) =>
          h(
            'tr',
            { dataset: { seq: String(r.seq), type: r.type } },
            h('td', { 'data-label': 'Seq' }, String(r.seq)),
            h('td', { 'data-label': 'When (ET)' }, stamp(r.at)),
            h('td', { 'data-label': 'Type' }, r.type),
            h('td', { 'data-label': 'Who', class: 'actor' }, h('strong', {}, r.actor?.name ?? '—'), h('span', { class: 'muted' }, ` via ${r.actor?.via ?? '?'}${r.actor?.groups?.length ? ` (${r.actor.groups.join(', ')})` : ''}`)),
            h('td', { 'data-label': 'Stage' }, r.stage ?? '—'),
            h('td', { 'data-label': 'Image tag' }, r.imageTag ? h('code', { class: 'sha', title: r.imageTag }, shortTag(r.imageTag)) : '—'),
            h('td', { 'data-label': 'Decision' }, r.decision ? decisionBadge(r.decision) : '—'),
            h('td', { 'data-label': 'Details', class: 'details' }, detailsOf(r, openSeqs.has(String(r.seq)))),
          ),
        ),
      ),
    ),
  ];
}

/** " at seq 7: why" of a broken chain; the gate names no seq when records could not be read ("records 5..9 could not all be read"). */
const brokenAt = (b) => `${typeof b?.seq === 'number' ? ` at seq ${b.seq}` : ''}${b?.reason ? `: ${b.reason}` : ''}`;

/** What a page check that passed covered. */
export const verifiedWhat = (p) =>
  p.scope === 'range'
    ? p.unlinked > 0
      ? // the oldest page after archiving: its first record's link to the archived one was not checked
        ` for records ${p.from}–${p.to}: ${p.checked} hashes recomputed, each linked to the one before but record ${p.from}, whose predecessor was archived before the gate started (not checked here).`
      : ` for records ${p.from}–${p.to}: ${p.checked} hashes recomputed, each linked to the one before.`
    : ` hashes of records ${p.from}–${p.to} recomputed; ${p.unlinked} not linked here (filtered page; see the full check).`;

/** A page whose search stopped at the gate's budget of records examined: older records were not searched. */
const searchStopped = (p) => ` The search for this page stopped at the records one request may examine; older records were not searched (Older goes on below record ${p.nextCursor}).`;

/** The chain-verification line for the page shown and the last full walk. */
export function chainView(v) {
  const p = v.page;
  // a partial page passes only for what it found: not the green "verified" of a whole page
  const pagePart =
    p.scope === 'empty'
      ? p.partial
        ? h('span', {}, h('strong', {}, 'Nothing verified'), ': no matching records found so far.', searchStopped(p))
        : h('span', {}, 'No records on this page to verify.')
      : !p.ok
        ? h('span', { class: 'chain-bad' }, icon('warning'), h('strong', {}, 'Chain BROKEN'), `${brokenAt(p.firstBroken)}.`)
        : p.partial
          ? h('span', {}, h('strong', {}, 'Partial page'), `: chain verified${verifiedWhat(p)}`, searchStopped(p))
          : h('span', { class: 'chain-ok' }, icon('check'), h('strong', {}, 'Chain verified'), verifiedWhat(p));
  const fv = v.full;
  const fullPart =
    fv.status === 'ok'
      ? h('span', { class: 'chain-ok' }, ` Full log: verified through seq ${fv.throughSeq} (${fv.message ?? ''}) at ${fv.finishedAt ? stamp(fv.finishedAt) : '?'}.`)
      : fv.status === 'broken'
        ? h('span', { class: 'chain-bad' }, icon('warning'), ` Full log BROKEN${brokenAt(fv.firstBroken)}${fv.firstBroken?.file ? ` (${fv.firstBroken.file} line ${fv.firstBroken.line})` : ''}.`)
        : fv.status === 'running'
          ? h('span', {}, ' Full log: verification running…')
          : fv.status === 'error'
            ? h('span', { class: 'chain-bad' }, icon('warning'), ` Full log could not be verified: ${fv.message ?? ''}`)
            : h('span', {}, ' Full log: not verified yet.');
  return [pagePart, fullPart, h('span', { class: 'muted' }, ` (full walk at most every ${fv.intervalMinutes} min)`)];
}

