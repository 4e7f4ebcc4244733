// The operator console: polls the gate every 2 s, renders, and drives the forms.
// Time comes from the gate (/v1/status `at` plus the time elapsed since), never the browser clock.

import { ApiError, Unreachable, api, query, session } from './api.js';
import { copyText, h, icon, replaceChildren } from './dom.js';
import { ET, TAG_PATTERN, candidate, clockTime, dayLabel, formatCountdown, formatDuration, stamp, toggleEffect, yourTime } from './format.js';
import { approvalsView, auditTable, chainView, copyTagLabel, grantsView, marketView, stageView, waitingView } from './views.js';

const $ = (id) => document.getElementById(id);

const state = {
  settings: null,
  /** performance.now() when the settings were last read */
  settingsReadAt: 0,
  status: null,
  /** the gate's clock at the last status, and performance.now() then */
  gateAtMs: 0,
  perfAt: 0,
  connected: null,
  downSince: null,
  /** what the disconnected banner shows (its reason), so it is redrawn when that changes */
  downKey: null,
  me: null,
  nextSession: { at: null, session: null },
  rendered: new Map(),
  /** the audit page shown; `epoch` counts resets (sign-out), so a load begun before one is dropped */
  audit: { cursor: null, stack: [], nextCursor: null, records: [], seenHead: null, loading: false, again: false, verifyTimer: null, epoch: 0, shown: null },
  prefill: { bg: { stage: null, value: '' }, ap: { stage: null, value: '' } },
  pollTimer: null,
  polling: false,
  /** a poll was asked for while one was under way: poll again when it ends */
  pollAgain: false,
  pending: null,
  /** the stage switch the toggle dialog asks about: {name, enabled, note} */
  toggling: null,
  /** the identity check of a stored token failed (not with a 401): #signin-error says so */
  sessionCheckError: false,
  /** an identity check retried by the poll is under way */
  checkingSession: false,
  /** a re-read of the signed-in identity (with the settings) is under way */
  recheckingIdentity: false,
  /** dialogs whose request is under way (Escape does not close them then) */
  inFlight: new Set(),
  /** the grant whose one-time token is on screen: {id, seen (listed open by a status since), shownAt (performance.now())} */
  shownGrant: null,
  /** the approval #ap-done confirms: {id, stage, imageTag, seen (listed pending by a status since), shownAt} */
  shownApproval: null,
  /** when the status held was asked for (performance.now()): one asked for after an item was shown lists it if it is open */
  statusAskedAt: -Infinity,
};

/** The gate's clock now, in epoch milliseconds. */
const gateNow = () => state.gateAtMs + (performance.now() - state.perfAt);

/** Renders `make()` into `el` only when `key` changed since the last time (keeps focus and typed text stable). */
function renderIf(el, key, make) {
  if (state.rendered.get(el.id) === key) return;
  state.rendered.set(el.id, key);
  replaceChildren(el, make());
  tick();
}

// ---------------------------------------------------------------- connection and polling

function setConnected(ok, err) {
  const conn = $('conn');
  if (ok) {
    if (state.connected === true) return;
    state.connected = true;
    state.downSince = null;
    state.downKey = null;
    conn.className = 'conn conn-live';
    replaceChildren(conn, icon('live'), h('span', {}, 'Connected: live updates every 2 s'));
    document.body.classList.remove('offline');
    $('banner').hidden = true;
    return;
  }
  // the reason is the current one: a gate that was unreachable may answer a 503 next, and the
  // other way round (redrawn only when it changes: the banner is an alert, announced when drawn)
  const answered = err instanceof ApiError;
  const key = JSON.stringify([answered ? err.message : null, state.status?.at ?? null]);
  if (state.connected === false && state.downKey === key) return;
  if (state.connected !== false) state.downSince = Date.now();
  state.connected = false;
  state.downKey = key;
  updateToggles();
  conn.className = 'conn conn-down';
  replaceChildren(conn, icon('unplug'), h('strong', {}, 'DISCONNECTED'), h('span', {}, answered ? ': no usable answer to the status poll (see the banner); retrying' : ': the gate is unreachable; retrying'));
  document.body.classList.add('offline');
  const banner = $('banner');
  replaceChildren(
    banner,
    icon('unplug'),
    h('strong', {}, 'Disconnected from the gate. '),
    state.status ? `What you see is the gate's state at ${stamp(state.status.at)} and may be stale. ` : 'Nothing could be loaded yet. ',
    answered ? `(${err.message}) ` : '',
    'Retrying every 2 s.',
  );
  banner.hidden = false;
}

async function poll() {
  if (state.polling) {
    // asked for after a change from this page: the status under way may predate the change
    state.pollAgain = true;
    return;
  }
  state.polling = true;
  state.pollAgain = false;
  clearTimeout(state.pollTimer);
  const firstLoad = !state.settings;
  try {
    if (firstLoad) {
      state.settings = await api('GET', 'v1/console/settings', undefined, { auth: false });
      state.settingsReadAt = performance.now();
      applySettings(null);
      await restoreSession();
    } else if (state.me === null && (session.token() || (state.settings.proxyAuth && state.sessionCheckError)) && !state.checkingSession) {
      // the identity check failed (not with a 401) at load or since: try again while the token is
      // kept (or, behind a sign-in proxy, until it answers), beside the poll rather than before
      // it (a slow identity check must not hold the status, and the market clock, for its timeout)
      state.checkingSession = true;
      void checkSession().finally(() => {
        state.checkingSession = false;
      });
    }
    const wasDown = state.connected === false;
    const t0 = performance.now();
    const st = await api('GET', 'v1/status', undefined, { auth: false, timeoutMs: 4000 });
    syncClock(Date.parse(st.at), (t0 + performance.now()) / 2);
    state.status = st;
    state.statusAskedAt = t0;
    setConnected(true);
    if ((wasDown && !firstLoad) || settingsDisagree(st) || performance.now() - state.settingsReadAt >= SETTINGS_MAX_AGE_MS) await refreshSettings();
    render();
    if (state.me && state.audit.seenHead !== st.audit.seq) void refreshAudit();
  } catch (err) {
    setConnected(false, err);
  } finally {
    state.polling = false;
    state.pollTimer = setTimeout(poll, state.pollAgain ? 0 : (state.settings?.pollMs ?? 2000));
  }
}

/** The settings are read again at least this often (a gate restarted with another configuration between two polls). */
const SETTINGS_MAX_AGE_MS = 60_000;

/** The status shows another configuration than the settings held (a gate restarted with a new one): they are stale. */
function settingsDisagree(st) {
  const s = state.settings;
  const names = (pick) => JSON.stringify(st.stages.filter(pick).map((x) => x.name));
  return (
    st.project !== s.project ||
    st.authMode !== s.authMode ||
    JSON.stringify(st.stages.map((x) => x.name)) !== JSON.stringify(s.stages) ||
    names((x) => x.policy.marketHours !== null) !== JSON.stringify(s.breakGlass.stages) ||
    names((x) => x.policy.requireApproval) !== JSON.stringify(s.approvals.stages)
  );
}

/**
 * Reads the settings again (they come from the gate's configuration, which a restart can change:
 * the stages that take break-glass or approvals, the limits, the project); a change is applied,
 * keeping what the operator chose and typed. A failure keeps the settings held and tries again
 * at the next poll.
 */
async function refreshSettings() {
  let fresh;
  try {
    fresh = await api('GET', 'v1/console/settings', undefined, { auth: false, timeoutMs: 4000 });
  } catch {
    return;
  }
  state.settingsReadAt = performance.now();
  const prev = state.settings;
  if (JSON.stringify(fresh) !== JSON.stringify(prev)) {
    state.settings = fresh;
    applySettings(prev);
    if (fresh.proxyAuth !== prev.proxyAuth) return restoreSession();
    applyIdentity();
  }
  // permissions change without a restart (a Role or RoleBinding edited): the identity is read again
  // with the settings, beside the poll (a slow whoami must not hold the status)
  void recheckIdentity();
}

/**
 * Reads whoami again for the identity signed in and applies what changed (its groups, the forms
 * and revoke buttons its permissions enable), keeping what was typed. The gate's 401 signs out; any
 * other failure keeps the identity held until the next re-read.
 */
async function recheckIdentity() {
  const held = state.me;
  if (held === null || state.recheckingIdentity) return;
  const token = session.token();
  state.recheckingIdentity = true;
  let me;
  try {
    me = await api('GET', 'v1/whoami');
  } catch (err) {
    // signed in or out meanwhile: that decides
    if (state.me !== held || session.token() !== token || !gateRefusedIdentity(err)) return;
    if (!handleAuthError(err)) {
      // a sign-in proxy's identity the gate no longer takes
      state.me = null;
      hideToken();
      applyIdentity();
    }
    // a dialog left open would ask to confirm a change for the identity signed out
    if (closeDialogsOfIdentity()) $('signin-token').focus();
    return;
  } finally {
    state.recheckingIdentity = false;
  }
  if (state.me !== held || session.token() !== token || JSON.stringify(me) === JSON.stringify(held)) return;
  if (me.name !== held.name || me.via !== held.via) {
    // another person (a sign-in proxy's session now someone else's): as at a sign-out and a sign-in,
    // what the one before left goes with them; kept, the next one would send it under their own name
    forgetIdentity();
  }
  state.me = me;
  applyIdentity();
}

/** What an identity that is gone leaves goes with it: its open dialogs, its one-time token on screen, what it typed and was told. */
function forgetIdentity() {
  closeDialogsOfIdentity();
  hideToken();
  forgetTypedAndTold();
}

/** Closes the confirmation dialogs open for an identity that is gone, but for one whose request is under way (its outcome is shown). True when one was closed. */
function closeDialogsOfIdentity() {
  let closed = false;
  for (const id of ['bg-dialog', 'rv-dialog', 'ar-dialog', 'tg-dialog']) {
    if (!$(id).open || state.inFlight.has(id)) continue;
    $(id).close('cancel');
    closed = true;
  }
  return closed;
}

/**
 * Takes the gate's clock from a status answer (`at`, stamped about half-way through the request).
 * Small differences are request jitter, not clock changes: they are ignored so the countdown
 * never steps back and forth; a jump of a second or more (a restarted gate, GATE_NOW) is taken.
 */
function syncClock(gateMs, perfMs) {
  const estimate = state.perfAt === 0 ? Number.NaN : state.gateAtMs + (perfMs - state.perfAt);
  if (Number.isNaN(estimate) || Math.abs(gateMs - estimate) >= 1000) {
    state.gateAtMs = gateMs;
    state.perfAt = perfMs;
  }
}

/** Polls now (after a change made from this page). */
const pollSoon = () => setTimeout(poll, 50);

// ---------------------------------------------------------------- identity

async function restoreSession() {
  if (session.token() || state.settings.proxyAuth) {
    try {
      state.me = await api('GET', 'v1/whoami');
    } catch (err) {
      state.me = null;
      sessionCheckFailed(err);
    }
  } else {
    // no token and no sign-in proxy (re-read settings of a gate restarted without one): an
    // identity the proxy gave earlier is no longer one the gate takes, and goes as at a sign-out
    // (what it typed, was shown or has open in a dialog with it)
    if (state.me !== null) forgetIdentity();
    state.me = null;
  }
  applyIdentity();
}

/** The gate's own 401: it does not take this tab's identity (a proxy's 401 in front of it says nothing of the token). */
const gateRefusedIdentity = (err) => err instanceof ApiError && err.status === 401 && err.code !== 'proxy_auth';

/** A whoami that failed: a 401 ends the tab's session; anything else is said, and the token is kept for the next try. */
function sessionCheckFailed(err) {
  const token = session.token();
  // behind a sign-in proxy there is no token: a 401 means the proxy sent no usable identity
  if (!token && !state.settings?.proxyAuth) return;
  if (gateRefusedIdentity(err)) {
    if (!token) return;
    session.clear();
    $('signin-error').textContent = 'The gate no longer accepts the token of this tab; sign in again.';
  } else {
    state.sessionCheckError = true;
    $('signin-error').textContent = token
      ? `Could not check the sign-in of this tab (${err.message}); its token is kept and checked again every 2 s.`
      : `Could not check the sign-in proxy's identity of this tab (${err.message}); checked again every 2 s.`;
  }
}

/** Asks whoami again for the token this tab holds (after a failed check); signs in when it answers. */
async function checkSession() {
  const token = session.token();
  try {
    const me = await api('GET', 'v1/whoami');
    // signed in or out meanwhile: that decides
    if (state.me !== null || session.token() !== token) return;
    state.me = me;
    if (state.sessionCheckError) $('signin-error').textContent = '';
    state.sessionCheckError = false;
    applyIdentity();
  } catch (err) {
    if (state.me !== null || session.token() !== token) return;
    const had = session.token();
    sessionCheckFailed(err);
    if (had && !session.token()) applyIdentity();
  }
}

function rolesText(me) {
  const groups = me.groups.length ? me.groups.join(', ') : 'no groups';
  const via = { 'local-token': 'local token', kubernetes: 'Kubernetes token', 'proxy-header': 'sign-in proxy' }[me.via] ?? me.via;
  return `${me.name} (${groups}) via ${via}`;
}

function applyIdentity() {
  const me = state.me;
  $('signin').hidden = me !== null;
  $('signout').hidden = me === null || me.via === 'proxy-header';
  $('whoami').textContent = me ? `Signed in as ${rolesText(me)}` : 'Not signed in';
  const perm = (fieldsetId, permId, resource, what, role) => {
    const allowed = me !== null && me.can[resource] === true;
    $(fieldsetId).disabled = !allowed;
    const p = $(permId);
    p.hidden = allowed;
    p.textContent = me === null ? `Sign in to ${what}.` : `${me.name} may not ${what}: ${state.settings?.authMode === 'kubernetes' ? `RBAC permission on ${resource}` : `role “${role}”`} required.`;
  };
  perm('bg-fieldset', 'bg-perm', 'breakglassgrants', 'request break-glass', 'operator');
  perm('ap-fieldset', 'ap-perm', 'approvals', 'approve releases', 'approver');
  const canToggle = me !== null && me.can.stagetoggles === true;
  $('tg-perm').hidden = canToggle;
  $('tg-perm').textContent = me === null ? 'Sign in as an admin to switch stages.' : `${me.name} may not switch stages: ${state.settings?.authMode === 'kubernetes' ? 'RBAC permission on stagetoggles' : 'role “admin”'} required.`;
  for (const fs of document.querySelectorAll('#toggles fieldset')) fs.disabled = !canToggle;
  state.rendered.delete('grants');
  state.audit.seenHead = null;
  if (me) void refreshAudit();
  else resetAudit();
  if (state.status) render();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $('signin-token');
  const token = input.value.trim();
  const errEl = $('signin-error');
  errEl.textContent = '';
  state.sessionCheckError = false;
  if (!token) {
    errEl.textContent = 'Paste a token first.';
    input.focus();
    return;
  }
  session.set(token);
  try {
    state.me = await api('GET', 'v1/whoami');
    input.value = '';
    applyIdentity();
    $('whoami').focus();
  } catch (err) {
    session.clear();
    state.me = null;
    errEl.textContent = gateRefusedIdentity(err) ? 'The gate does not accept this token.' : `Could not sign in: ${err.message}`;
    input.focus();
  }
}

function signOut() {
  session.clear();
  state.me = null;
  hideToken();
  forgetTypedAndTold();
  applyIdentity();
  $('signin-token').focus();
}

/**
 * At sign-out, what the person typed and was told goes with them: the next person to sign in on
 * this tab must not find a half-written justification or approval notes (and send them under
 * their own name), nor the answers to the previous person's actions.
 */
function forgetTypedAndTold() {
  for (const id of ['bg-just', 'ap-notes']) {
    $(id).value = '';
    $(id).dispatchEvent(new Event('input'));
  }
  // a stage switch's note is recorded under the name of whoever sends it, as a justification is
  for (const el of document.querySelectorAll('#toggles input[id^="tg-"][id$="-note"]')) el.value = '';
  for (const el of document.querySelectorAll('#bg-error, #ap-error, #ap-done, [id^="tg-"][id$="-error"]')) el.textContent = '';
  state.shownApproval = null;
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
}

/**
 * A 401 inside a dialog: the dialog closes and the focus goes to the sign-in field (closing would
 * put it back on the control that opened the dialog, which the signed-out page no longer offers).
 */
function closeForSignIn(id) {
  const d = $(id);
  if (d.open) d.close('cancel');
  $('signin-token').focus();
}

/** A 401 on an authenticated call: the token is no longer good. */
function handleAuthError(err) {
  if (gateRefusedIdentity(err) && session.token()) {
    session.clear();
    state.me = null;
    hideToken(); // a break-glass token still on screen goes with the session, as at sign-out
    // and, as at sign-out, what they typed and were told: whoever signs in next on this tab must
    // not find a half-written justification or notes to send under their own name
    forgetTypedAndTold();
    $('signin-error').textContent = 'The gate no longer accepts your token; sign in again.';
    applyIdentity();
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- rendering

/** Shows the settings; `prev`: the settings shown before (null at load), whose choices and typed text are kept. */
function applySettings(prev) {
  const s = state.settings;
  $('project').textContent = s.project;
  const opts = (sel, names, first = [], form = null) => {
    const chosen = sel.value;
    replaceChildren(sel, first, names.map((n) => h('option', { value: n }, n)));
    if ([...sel.options].some((o) => o.value === chosen)) sel.value = chosen;
    else if (prev !== null && chosen !== '' && form) {
      // the stage chosen is gone: no stage, not the first one left in its place (with the tag
      // prefilled for it, a form sent as it stands would approve or unlock a stage nobody chose)
      sel.selectedIndex = -1;
      $(form.error).textContent = `Stage: ${chosen} is no longer offered for ${form.what} (the gate's configuration changed); choose a stage.`;
    }
  };
  opts($('bg-stage'), s.breakGlass.stages, [], { error: 'bg-error', what: 'break-glass' });
  opts($('ap-stage'), s.approvals.stages, [], { error: 'ap-error', what: 'approvals' });
  opts($('au-stage'), s.stages, [h('option', { value: '' }, 'All stages')]);
  $('bg-just-min').textContent = String(s.breakGlass.justificationMin);
  $('bg-just').maxLength = s.breakGlass.justificationMax;
  $('bg-ttl').max = String(s.breakGlass.maxTtlMinutes);
  $('bg-ttl').placeholder = String(s.breakGlass.defaultTtlMinutes);
  $('bg-ttl-hint').textContent = `Default ${s.breakGlass.defaultTtlMinutes} minutes, at most ${s.breakGlass.maxTtlMinutes}.`;
  $('ap-notes-min').textContent = String(s.approvals.notesMin);
  $('ap-notes').maxLength = s.approvals.notesMax;
  updateCount('bg-just', 'bg-just-count', s.breakGlass.justificationMin);
  updateCount('ap-notes', 'ap-notes-count', s.approvals.notesMin);
  // the switches are built once for the stages; rebuilt, they would lose the notes being typed
  if (prev === null || JSON.stringify(prev.stages) !== JSON.stringify(s.stages)) buildToggles();
  else for (const n of s.stages) $(`tg-${n}-note`).maxLength = s.toggles.noteMax;
}

function updateCount(fieldId, countId, min) {
  const n = $(fieldId).value.trim().length;
  const el = $(countId);
  el.textContent = n >= min ? `(${n} characters ✓)` : `(${n} of ${min} characters)`;
  el.classList.toggle('short', n < min);
}

function render() {
  const st = state.status;
  const nowMs = gateNow();
  renderIf($('audit-banner'), JSON.stringify(st.audit.writable === false), () => auditBanner(st.audit));
  renderIf($('clock-banner'), JSON.stringify(st.clock ?? null), () => clockBanner(st.clock));
  ensureNextSession(st.market.nextOpen);
  const held = st.stages.filter((s) => s.enabled && s.policy.marketHours !== null).map((s) => s.name);
  renderIf($('market'), JSON.stringify([st.market, state.nextSession, held]), () => marketView(st.market, state.nextSession.session, nowMs, held));
  renderIf($('kargo-note'), JSON.stringify(st.kargo ?? null), () => kargoNote(st.kargo));
  renderIf($('pipeline'), JSON.stringify([st.stages, st.market.open, st.market.nextClose]), () => st.stages.map((s, i) => stageView(s, i, st.market)));
  renderIf($('waiting'), JSON.stringify(st.waiting), () =>
    waitingView(st, {
      breakGlass: (w) => prefillForm('bg', w.stage, w.imageTag, 'bg-just'),
      approve: (w) => prefillForm('ap', w.stage, w.imageTag, 'ap-notes'),
    }),
  );
  const canRevoke = state.me?.can['breakglassgrants.delete'] === true;
  renderIf($('grants'), JSON.stringify([st.grants, canRevoke]), () => grantsView(st.grants, canRevoke, revokeGrant));
  const canRevokeApprovals = state.me?.can['approvals.delete'] === true;
  renderIf($('approvals'), JSON.stringify([st.approvals, canRevokeApprovals]), () => approvalsView(st.approvals, canRevokeApprovals, revokeApproval));
  followShownGrant(st.grants);
  followShownApproval(st.approvals);
  updateToggles();
  updateToggleDialog(st.stages);
  autoPrefill('bg');
  autoPrefill('ap');
}

/** The gate cannot write its audit log: it refuses everything that would be recorded. */
function auditBanner(audit) {
  const unwritable = audit.writable === false;
  $('audit-banner').hidden = !unwritable;
  if (!unwritable) return [];
  return [
    icon('warning'),
    h('strong', {}, 'The audit log cannot be written. '),
    `The gate refuses every decision, break-glass grant and approval (HTTP 503) until its audit log can be written again: Kargo promotions are held. The last record written is seq ${audit.seq}.`,
  ];
}

/** The Kargo Stage list cannot be read: the deployed tags read from it are those of its last read. */
function kargoNote(kargo) {
  const stale = kargo?.stale === true;
  $('kargo-note').hidden = !stale;
  if (!stale) return [];
  return [
    icon('warning'),
    h('strong', {}, `Kargo not read since ${kargo.lastReadAt ? stamp(kargo.lastReadAt) : 'the gate started'}: `),
    kargo.lastError ?? 'no answer yet',
    kargo.lastReadAt
      ? '. The deployed tags from Kargo are those of that read; the gate tries again at every poll.'
      : '. No deployed tag comes from Kargo; the gate tries again at every poll.',
  ];
}

/** A gate on GATE_NOW answers for a simulated instant: say so on every page, whatever else is shown. */
function clockBanner(clock) {
  const simulated = clock?.source === 'GATE_NOW';
  $('clock-banner').hidden = !simulated;
  if (!simulated) return [];
  return [
    icon('warning'),
    h('strong', {}, 'Simulated clock. '),
    `This gate's clock was started at ${stamp(clock.startedAt)} (GATE_NOW), not the real time: its market clock and answers are for that moment. Demos and tests only.`,
  ];
}

async function ensureNextSession(nextOpen) {
  if (state.nextSession.at === nextOpen) return;
  state.nextSession = { at: nextOpen, session: null };
  try {
    const m = await api('GET', `v1/market${query({ at: nextOpen })}`, undefined, { auth: false });
    if (state.nextSession.at === nextOpen) {
      state.nextSession = { at: nextOpen, session: m.session };
      if (state.status) render();
    }
  } catch (err) {
    // a 400 is final: the gate names the next open after the last session of 2099 (2100-01-04)
    // but answers for no instant in 2100; kept, so it is not asked again at every poll
    if (err instanceof ApiError && err.status === 400) return;
    state.nextSession = { at: null, session: null };
  }
}

/** Keeps countdowns, elapsed times and the gate clock current (once a second). */
function tick() {
  if (!state.status) return;
  const now = gateNow();
  for (const el of document.querySelectorAll('[data-until]')) el.textContent = formatCountdown(Date.parse(el.dataset.until) - now);
  for (const el of document.querySelectorAll('[data-since]')) el.textContent = formatDuration(now - Date.parse(el.dataset.since));
  const iso = new Date(now).toISOString();
  $('gate-time').textContent = `gate clock ${stamp(iso)} · ${yourTime(iso, true)}`;
}

// ---------------------------------------------------------------- forms: shared

/** Prefills a form's tag from a waiting promotion and moves focus to the text the operator must write. */
function prefillForm(which, stage, tag, focusId) {
  const sel = $(`${which}-stage`);
  if ([...sel.options].some((o) => o.value === stage)) sel.value = stage;
  $(`${which}-tag`).value = tag;
  state.prefill[which] = { stage, value: tag };
  $(`${which}-tag-stale`).textContent = '';
  $(`${which}-form`).scrollIntoView({ block: 'nearest' });
  $(focusId).focus();
}

/**
 * Fills the tag field from the stage's candidate unless the operator typed something else. A tag
 * filled in that is no longer the candidate (no promotion waits with it any more while another
 * waits in the stage; or, with none waiting, the tag the stage would be promoted to has moved on)
 * follows the candidate while the operator has written nothing in the form; once they have (a
 * justification or notes written for that tag) it is not changed under them, and
 * #<form>-tag-stale names the candidate.
 */
function autoPrefill(which) {
  const stage = $(`${which}-stage`).value;
  const input = $(`${which}-tag`);
  const pf = state.prefill[which];
  const stale = $(`${which}-tag-stale`);
  if (!stage) stale.textContent = '';
  if (!stage || !state.status) return;
  if (input.value !== '' && input.value !== pf.value) {
    stale.textContent = '';
    return;
  }
  const { tag, from } = candidate(state.status, stage);
  if (input.value !== '' && pf.stage === stage) {
    const waiting = state.status.waiting.filter((w) => w.stage === stage).map((w) => w.imageTag);
    // with none waiting and no candidate known (a status without deploys or decisions), kept
    const current = waiting.length > 0 ? waiting.includes(input.value) : tag === '' || tag === input.value;
    if (current) stale.textContent = '';
    else if ($(which === 'bg' ? 'bg-just' : 'ap-notes').value.trim() === '') {
      input.value = tag;
      state.prefill[which] = { stage, value: tag };
      stale.textContent = '';
    } else if (waiting.length > 0) stale.textContent = `No promotion waits in ${stage} with this tag any more: the one waiting has ${tag}. To use it, press its button under Waiting promotions.`;
    else stale.textContent = `This tag is no longer the one to promote to ${stage}: ${tag} is now (${from}). To use it, replace the tag.`;
    return;
  }
  stale.textContent = '';
  input.value = tag;
  state.prefill[which] = { stage, value: tag };
}

function fieldError(errId, inputId, message) {
  $(errId).textContent = message;
  const input = inputId ? $(inputId) : null;
  for (const el of document.querySelectorAll(`[aria-invalid="true"]`)) if (el.closest('form')?.id === $(errId).closest('form')?.id) el.removeAttribute('aria-invalid');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

/**
 * A change whose outcome this page cannot know: no answer (a timeout, the connection lost), a
 * 5xx that is not the gate's own JSON error (a proxy's 502/504, which may have passed the request
 * on), or the gate's own 500 internal_error (its handler failed, maybe after recording the
 * change). The gate may have made and recorded the change, so it must not be reported as refused.
 */
function outcomeUnknown(err) {
  return err instanceof Unreachable || (err instanceof ApiError && err.status >= 500 && (err.code === null || err.code === 'internal_error'));
}

/** "No answer from the gate (why)": the start of the message of a change whose outcome is unknown. */
const noAnswer = (err) => `No answer from the gate (${err instanceof Unreachable ? 'unreachable or too slow' : err.message})`;

const FIELD_INPUTS = { 'body.imageTag': 'tag', 'body.justification': 'just', 'body.ttlMinutes': 'ttl', 'body.stage': 'stage', 'body.notes': 'notes' };

// ---------------------------------------------------------------- break-glass

function readBreakGlass() {
  const s = state.settings.breakGlass;
  const stage = $('bg-stage').value;
  const imageTag = $('bg-tag').value.trim();
  const justification = $('bg-just').value.trim();
  const ttlText = $('bg-ttl').value.trim();
  if (!stage) return { error: ['bg-stage', 'Stage: choose a stage.'] };
  if (!TAG_PATTERN.test(imageTag)) return { error: ['bg-tag', 'Image tag: enter a valid image tag (letters, digits, . _ -).'] };
  if (justification.length < s.justificationMin) return { error: ['bg-just', `Justification: at least ${s.justificationMin} characters (now ${justification.length}).`] };
  let ttlMinutes;
  // text the number field cannot read ("4h" in some browsers, "1e" in all) leaves its value empty:
  // refused, or the grant would silently get the default lifetime
  if ($('bg-ttl').validity.badInput) return { error: ['bg-ttl', `Valid for: a whole number of minutes from 1 to ${s.maxTtlMinutes}.`] };
  if (ttlText !== '') {
    ttlMinutes = Number(ttlText);
    if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > s.maxTtlMinutes) return { error: ['bg-ttl', `Valid for: a whole number of minutes from 1 to ${s.maxTtlMinutes}.`] };
  }
  return { value: { project: state.settings.project, stage, imageTag, justification, ...(ttlMinutes ? { ttlMinutes } : {}) } };
}

function openBreakGlassDialog(ev) {
  ev.preventDefault();
  // the one-time token of the last grant is still on screen: the next grant's token would take its
  // place, and it cannot be shown again (a grant whose token nobody copied must be revoked)
  if (!$('bg-token').hidden) {
    fieldError('bg-error', null, `The token of grant ${$('bg-token').dataset.grant} is still on screen and cannot be shown again: copy it and press “I have it: hide the token” before requesting another grant.`);
    $('bg-token').focus();
    return;
  }
  const r = readBreakGlass();
  if (r.error) return fieldError('bg-error', r.error[0], r.error[1]);
  fieldError('bg-error', null, '');
  const v = r.value;
  state.pending = v;
  $('bg-c-stage').textContent = v.stage;
  $('bg-c-tag').textContent = v.imageTag;
  $('bg-c-just').textContent = v.justification;
  $('bg-c-ttl').textContent = `${v.ttlMinutes ?? state.settings.breakGlass.defaultTtlMinutes} minutes`;
  // a grant already open for this stage and tag (another operator's, or one whose token was lost):
  // a second is one more live token, so the dialog says so before it is asked for
  const open = (state.status?.grants ?? []).filter((g) => g.stage === v.stage && g.imageTag === v.imageTag);
  $('bg-c-open').hidden = open.length === 0;
  $('bg-c-open').textContent =
    open.map((g) => `Grant ${g.id}, requested by ${g.requestedBy}, is already open for ${g.stage} and this tag (expires at ${clockTime(g.expiresAt, ET, true)} ET). `).join('') +
    (open.length ? 'A second grant is one more token that lets a promotion through; if the first token was lost, revoke its grant under Open grants instead.' : '');
  $('bg-c-expect').textContent = v.stage;
  $('bg-c-confirm').value = '';
  $('bg-c-error').textContent = '';
  $('bg-c-ok').disabled = true;
  $('bg-dialog').showModal();
  $('bg-c-confirm').focus();
}

function closeDialog() {
  const d = $('bg-dialog');
  if (d.open) d.close('cancel');
}

/**
 * While a dialog's request is under way it cannot be closed by Escape: its outcome must be seen.
 * `closedBy = 'none'` does that where the browser has it (Chromium lets a page refuse one Escape
 * by preventDefault, not a second); the cancel listeners refuse it elsewhere. Returns the release.
 */
function holdDialog(id) {
  const d = $(id);
  const before = d.closedBy;
  state.inFlight.add(id);
  if (before !== undefined) d.closedBy = 'none';
  return () => {
    state.inFlight.delete(id);
    if (before !== undefined) d.closedBy = before;
  };
}

/**
 * A dialog's failure is written into it, and the focus (lost when its button was disabled for the
 * request) goes back to that button; if the dialog was closed anyway, beside the control that opened it.
 */
function dialogError(id, inDialog, onPage, text, button) {
  $(inDialog).textContent = text;
  if (!$(id).open) {
    if (onPage) $(onPage).textContent = text;
    return;
  }
  button.focus();
}

async function confirmBreakGlass(ev) {
  ev.preventDefault();
  const v = state.pending;
  if (!v || $('bg-c-confirm').value.trim() !== v.stage) return;
  const ok = $('bg-c-ok');
  ok.disabled = true;
  $('bg-c-cancel').disabled = true;
  const release = holdDialog('bg-dialog');
  try {
    const grant = await api('POST', 'v1/break-glass', v);
    state.pending = null;
    $('bg-dialog').close('confirm');
    $('bg-just').value = '';
    updateCount('bg-just', 'bg-just-count', state.settings.breakGlass.justificationMin);
    showToken(grant);
    pollSoon();
  } catch (err) {
    if (handleAuthError(err)) return closeForSignIn('bg-dialog');
    if (outcomeUnknown(err)) {
      // a second grant is one more live token: asking again takes typing the stage name again
      $('bg-c-confirm').value = '';
      dialogError('bg-dialog', 'bg-c-error', 'bg-error', `${noAnswer(err)}: the grant may have been issued, and its token cannot be shown again. Check Open grants before asking again; revoke a grant nobody can use.`, $('bg-c-confirm'));
      pollSoon();
      return;
    }
    ok.disabled = false;
    dialogError('bg-dialog', 'bg-c-error', 'bg-error', `Not granted: ${err.message}`, ok);
  } finally {
    release();
    $('bg-c-cancel').disabled = false;
  }
}

function showToken(grant) {
  $('bg-token-what').textContent = `Grant ${grant.id} for ${grant.stage} · image tag ${grant.imageTag}, requested by ${grant.requestedBy}.`;
  $('bg-token-value').value = grant.token;
  $('bg-token').dataset.grant = grant.id;
  replaceChildren(
    $('bg-token-expiry'),
    icon('clock'),
    `Expires at ${clockTime(grant.expiresAt, ET, true)} ET on ${dayLabel(grant.expiresAt, ET)} · ${yourTime(grant.expiresAt, true)} · in `,
    h('strong', { dataset: { until: grant.expiresAt } }, ''),
    '.',
  );
  const box = $('bg-token');
  box.hidden = false;
  state.shownGrant = { id: grant.id, seen: false, shownAt: performance.now() };
  tick();
  box.focus();
}

/**
 * The item this page shows (`key` of state: shownGrant, shownApproval) against the status's list of
 * open ones: returned, and forgotten, once it is not listed by a status that would list it if it
 * were open: one that listed it before, or one asked for after the gate answered that it was made
 * (a promotion may use it before the first such status: a status poll lost, or Kargo quicker than
 * the poll). A status asked for earlier, that has not listed it, may have been read before it was
 * made, and says nothing: null, as while it is listed.
 */
function goneFromStatus(key, listed) {
  const shown = state[key];
  if (!shown) return null;
  if (listed.some((x) => x.id === shown.id)) {
    shown.seen = true;
    return null;
  }
  if (!shown.seen && !(state.statusAskedAt > shown.shownAt)) return null;
  state[key] = null;
  return shown;
}

/**
 * The one-time token on screen follows its grant in the status: once it is no longer open, the box
 * says the token lets nothing through, instead of counting down to an expiry that no longer matters.
 */
function followShownGrant(grants) {
  if ($('bg-token').hidden) return;
  const g = goneFromStatus('shownGrant', grants);
  if (!g) return;
  replaceChildren(
    $('bg-token-expiry'),
    icon('warning'),
    h('strong', {}, `Grant ${g.id} is no longer open`),
    ': used by a promotion, revoked or expired (the audit history says which). This token lets nothing through.',
  );
}

function hideToken() {
  // the refusal to request another grant while this token was shown is answered, however it went
  // (this button, a sign-out, a 401): left, it named a token no longer on screen
  if ($('bg-error').textContent.startsWith('The token of grant ')) fieldError('bg-error', null, '');
  $('bg-token-value').value = '';
  $('bg-token-what').textContent = '';
  replaceChildren($('bg-token-expiry'));
  state.shownGrant = null;
  $('bg-token').hidden = true;
  delete $('bg-token').dataset.grant;
}

/**
 * A revoke's confirmation dialog (`p`: the prefix of its element ids): the function returned asks
 * before revoking `item`, naming it (`fields`: each `${p}-c-<name>` element and the item's member it
 * shows) and what revoking does; a confirm sends DELETE `path`/id. On success the focus goes to the
 * list's heading (the revoke button goes with the item at the next render); a close otherwise puts
 * it back on the item's re-rendered revoke button in `list` (not when a 401 closed it: the close
 * event comes after closeForSignIn has put the focus on the token field, and leaves it there).
 */
function revokeDialog({ p, fields, path, list, listName, formError }) {
  const dialog = $(`${p}-dialog`);
  const ok = $(`${p}-c-ok`);
  const cancel = $(`${p}-c-cancel`);
  /** the item the dialog asks about; cleared by a confirmed revoke */
  let asked = null;
  $(`${p}-dialog-form`).addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const item = asked;
    if (!item) return;
    ok.disabled = true;
    cancel.disabled = true;
    const release = holdDialog(`${p}-dialog`);
    try {
      await api('DELETE', `${path}/${encodeURIComponent(item.id)}`);
      asked = null;
      dialog.close('confirm');
      $(`${list}-h`).focus();
      pollSoon();
    } catch (err) {
      if (handleAuthError(err)) return closeForSignIn(`${p}-dialog`);
      ok.disabled = false;
      if (outcomeUnknown(err)) pollSoon();
      const text = outcomeUnknown(err) ? `${noAnswer(err)}: ${item.id} may have been revoked. ${listName} shows the gate's list.` : `Could not revoke ${item.id}: ${err.message}`;
      dialogError(`${p}-dialog`, `${p}-c-error`, formError, text, ok);
    } finally {
      release();
      cancel.disabled = false;
    }
  });
  cancel.addEventListener('click', () => dialog.close('cancel'));
  dialog.addEventListener('close', () => {
    const item = asked;
    asked = null;
    // a re-render of the list while the dialog was open replaced the button (the browser would put
    // the focus back on the detached one, that is, on the page)
    if (item && state.me) ($(list).querySelector(`[data-key="${CSS.escape(`revoke-${item.id}`)}"]`) ?? $(`${list}-h`)).focus();
  });
  return (item) => {
    $(formError).textContent = '';
    asked = item;
    for (const [name, member] of Object.entries(fields)) $(`${p}-c-${name}`).textContent = item[member];
    $(`${p}-c-error`).textContent = '';
    ok.disabled = false;
    dialog.showModal();
    cancel.focus();
  };
}

/** Asks before revoking a grant: its stage, tag, requester and justification. */
const revokeGrant = revokeDialog({
  p: 'rv',
  fields: { id: 'id', stage: 'stage', tag: 'imageTag', by: 'requestedBy', just: 'justification' },
  path: 'v1/break-glass',
  list: 'grants',
  listName: 'Open grants',
  formError: 'bg-error',
});

// ---------------------------------------------------------------- approvals

/** Asks before revoking an approval: its stage, tag, approver and notes. */
const revokeApproval = revokeDialog({
  p: 'ar',
  fields: { id: 'id', stage: 'stage', tag: 'imageTag', by: 'approvedBy', notes: 'notes' },
  path: 'v1/approvals',
  list: 'approvals',
  listName: 'Pending approvals',
  formError: 'ap-error',
});

async function approve(ev) {
  ev.preventDefault();
  const s = state.settings.approvals;
  const stage = $('ap-stage').value;
  const imageTag = $('ap-tag').value.trim();
  const notes = $('ap-notes').value.trim();
  $('ap-done').textContent = '';
  state.shownApproval = null;
  if (!stage) return fieldError('ap-error', 'ap-stage', 'Stage: choose a stage.');
  if (!TAG_PATTERN.test(imageTag)) return fieldError('ap-error', 'ap-tag', 'Image tag: enter a valid image tag (letters, digits, . _ -).');
  if (notes.length < s.notesMin) return fieldError('ap-error', 'ap-notes', `Notes: required, at least ${s.notesMin} characters (now ${notes.length}).`);
  fieldError('ap-error', null, '');
  $('ap-submit').disabled = true;
  try {
    const a = await api('POST', 'v1/approvals', { project: state.settings.project, stage, imageTag, notes });
    $('ap-notes').value = '';
    updateCount('ap-notes', 'ap-notes-count', s.notesMin);
    $('ap-done').textContent = `Approved ${a.imageTag} for ${a.stage} as ${a.approvedBy}; valid until ${stamp(a.expiresAt)}.`;
    state.shownApproval = { id: a.id, stage: a.stage, imageTag: a.imageTag, seen: false, shownAt: performance.now() };
    pollSoon();
  } catch (err) {
    // signed out: the form is disabled, the token field is where to go on
    if (handleAuthError(err)) return $('signin-token').focus();
    if (outcomeUnknown(err)) {
      fieldError('ap-error', null, `${noAnswer(err)}: ${imageTag} may have been approved for ${stage}. Check Pending approvals before approving again.`);
      pollSoon();
    } else fieldError('ap-error', err.field ? `ap-${FIELD_INPUTS[err.field] ?? ''}` : null, `Not approved: ${err.message}`);
  } finally {
    $('ap-submit').disabled = false;
    // disabled for the request, the button lost the focus to the page: back on it, unless an
    // error put it on a field (or the operator moved it meanwhile)
    if (document.activeElement === null || document.activeElement === document.body) $('ap-submit').focus();
  }
}

/**
 * The confirmation of the approval sent from this page follows it in the status, as the one-time
 * token box follows its grant: once it is no longer pending, it says so instead of "valid until".
 */
function followShownApproval(approvals) {
  const a = goneFromStatus('shownApproval', approvals);
  if (!a) return;
  replaceChildren(
    $('ap-done'),
    icon('warning'),
    h('strong', {}, `Approval ${a.id} is no longer pending`),
    `: ${a.imageTag} for ${a.stage} was used by a promotion, revoked or expired (the audit history says which).`,
  );
}

// ---------------------------------------------------------------- stage toggles

function buildToggles() {
  const canToggle = state.me?.can.stagetoggles === true;
  const rows = state.settings.stages.map((name) => {
    const form = h(
      'form',
      { class: 'toggle', id: `tg-${name}`, dataset: { stage: name }, novalidate: true },
      h(
        'fieldset',
        { disabled: !canToggle },
        h('legend', {}, name),
        h('p', { class: 'toggle-state', id: `tg-${name}-state`, role: 'status' }),
        h('div', { class: 'field' }, h('label', { for: `tg-${name}-note`, id: `tg-${name}-label` }, `Note for switching ${name}`), h('input', { id: `tg-${name}-note`, autocomplete: 'off', maxlength: String(state.settings.toggles.noteMax) })),
        h('button', { type: 'submit', id: `tg-${name}-btn` }),
        h('p', { class: 'error', id: `tg-${name}-error`, role: 'alert' }),
      ),
    );
    form.addEventListener('submit', (ev) => toggleStage(ev, name));
    return form;
  });
  replaceChildren($('toggles'), rows);
  updateToggles();
}

/**
 * Each switch says its stage's state and offers the change from it, as the last status poll read
 * it. Before the first status, and while the polls fail, it claims no state (the stage may have
 * been switched meanwhile): it says so, its button names no change and cannot be pressed. The
 * last state read is named beside "UNKNOWN", with the time the gate read it.
 */
function updateToggles() {
  const known = state.connected === true && state.status !== null;
  for (const name of state.settings?.stages ?? []) {
    const stateEl = $(`tg-${name}-state`);
    if (!stateEl) continue;
    const s = state.status?.stages.find((x) => x.name === name) ?? null;
    const word = s ? (s.enabled ? 'ENABLED' : 'DISABLED') : null;
    const detail =
      known && s
        ? s.changedAt
          ? ` — last changed by ${s.changedBy ?? '?'} ${stamp(s.changedAt)}${s.note ? `: “${s.note}”` : ''}`
          : ''
        : state.status
          ? ` — the last status poll failed${word ? `; ${word} at ${stamp(state.status.at)}` : ''}`
          : " — waiting for the gate's status";
    const shown = known && s ? word : state.status ? 'UNKNOWN' : 'LOADING';
    const key = `${shown}${detail}`;
    if (stateEl.dataset.key === key) continue;
    stateEl.dataset.key = key;
    const btn = $(`tg-${name}-btn`);
    if (known && s) {
      replaceChildren(stateEl, icon(s.enabled ? 'check' : 'pause'), h('strong', {}, shown), detail);
      stateEl.closest('form').classList.toggle('is-disabled', !s.enabled);
      btn.textContent = s.enabled ? `Turn ${name} off` : `Turn ${name} on`;
      btn.dataset.enable = String(!s.enabled);
      btn.disabled = false;
      $(`tg-${name}-label`).textContent = `Note for turning ${name} ${s.enabled ? 'off' : 'on'}`;
    } else {
      replaceChildren(stateEl, icon(state.status ? 'unplug' : 'clock'), h('strong', {}, shown), detail);
      stateEl.closest('form').classList.remove('is-disabled');
      btn.textContent = `Switch ${name} (state not known)`;
      delete btn.dataset.enable;
      btn.disabled = true;
      $(`tg-${name}-label`).textContent = `Note for switching ${name}`;
    }
  }
}

/**
 * The open stage dialog follows the stage: when another operator has already made the change it
 * asks for, it says so and sends nothing (confirming would record the same switch again under this
 * operator's note); when the stage changes back, it can be confirmed again.
 */
function updateToggleDialog(stages) {
  const v = state.toggling;
  if (!v || !$('tg-dialog').open || state.inFlight.has('tg-dialog')) return;
  const s = stages.find((x) => x.name === v.name);
  if (!s) return;
  const moot = s.enabled === v.enabled;
  if (moot === Boolean(v.moot)) return;
  v.moot = moot;
  const by = `${s.changedBy ? ` by ${s.changedBy}` : ''}${s.changedAt ? ` ${stamp(s.changedAt)}` : ''}`;
  $('tg-c-error').textContent = moot ? `${v.name} was turned ${v.enabled ? 'on' : 'off'} meanwhile${by}: nothing to send. Cancel to close.` : '';
  $('tg-c-ok').disabled = moot || (!v.enabled && $('tg-c-confirm').value.trim() !== v.name);
}

/** Asks before switching a stage: names the stage, the change and its effect; turning one off needs its name typed. */
function toggleStage(ev, name) {
  ev.preventDefault();
  // no state known: no change to ask about (the button is disabled; this is the form's own submit)
  if (!('enable' in $(`tg-${name}-btn`).dataset)) return;
  const note = $(`tg-${name}-note`).value.trim();
  const min = state.settings.toggles.noteMin;
  const errId = `tg-${name}-error`;
  if (note.length < min) return fieldError(errId, `tg-${name}-note`, `Note: say why, at least ${min} characters.`);
  fieldError(errId, null, '');
  const enabled = $(`tg-${name}-btn`).dataset.enable === 'true';
  state.toggling = { name, enabled, note };
  $('tg-dialog-h').textContent = enabled ? `Turn ${name} on?` : `Turn ${name} off?`;
  $('tg-dialog-desc').textContent = toggleEffect(name, enabled, state.status?.stages ?? []);
  $('tg-c-stage').textContent = name;
  $('tg-c-change').textContent = enabled ? 'off → ON (checked again)' : 'on → OFF (passed through)';
  $('tg-c-note').textContent = note;
  $('tg-c-expect').textContent = name;
  $('tg-c-confirm').value = '';
  $('tg-c-field').hidden = enabled;
  $('tg-c-error').textContent = '';
  $('tg-c-ok').textContent = enabled ? `Turn ${name} on` : `Turn ${name} off`;
  // red only for the change that lets promotions through unchecked
  $('tg-c-ok').classList.toggle('danger', !enabled);
  $('tg-c-ok').disabled = !enabled;
  $('tg-dialog').showModal();
  (enabled ? $('tg-c-cancel') : $('tg-c-confirm')).focus();
}

async function confirmToggle(ev) {
  ev.preventDefault();
  const v = state.toggling;
  if (!v || state.inFlight.has('tg-dialog')) return;
  if (v.moot || (!v.enabled && $('tg-c-confirm').value.trim() !== v.name)) return;
  const ok = $('tg-c-ok');
  ok.disabled = true;
  $('tg-c-cancel').disabled = true;
  const release = holdDialog('tg-dialog');
  try {
    await api('PUT', `v1/stages/${encodeURIComponent(v.name)}`, { enabled: v.enabled, note: v.note });
    $(`tg-${v.name}-note`).value = '';
    $('tg-dialog').close('confirm');
    pollSoon();
  } catch (err) {
    if (handleAuthError(err)) return closeForSignIn('tg-dialog');
    ok.disabled = false;
    if (outcomeUnknown(err)) pollSoon();
    const text = outcomeUnknown(err) ? `${noAnswer(err)}: ${v.name} may have been turned ${v.enabled ? 'on' : 'off'}; this dialog follows the stage's state.` : `Not changed: ${err.message}`;
    dialogError('tg-dialog', 'tg-c-error', `tg-${v.name}-error`, text, ok);
  } finally {
    release();
    $('tg-c-cancel').disabled = false;
  }
}

// ---------------------------------------------------------------- audit history

/** Signed out: the audit page, pager and chain line are emptied, and a load or check under way is dropped. */
function resetAudit() {
  const a = state.audit;
  clearTimeout(a.verifyTimer);
  // in place: a load under way holds this object and sees the new epoch
  Object.assign(a, { cursor: null, stack: [], nextCursor: null, records: [], seenHead: null, loading: false, again: false, verifyTimer: null, epoch: a.epoch + 1, shown: null });
  auditPlaceholder();
  $('au-chain').textContent = '';
  $('au-page').textContent = '';
  for (const id of ['au-newest', 'au-newer', 'au-older']) $(id).disabled = true;
  auditFiltersEnabled(true);
}

function auditFiltersEnabled(enabled) {
  for (const id of ['au-stage', 'au-type', 'au-limit']) $(id).disabled = !enabled;
}

/**
 * The identity signed in may not read the audit log (get auditrecords): the view says so in place
 * of the records, asks for nothing, and its filters and pager are off. Drawn once: the status
 * polls that follow find it drawn. It is left when whoami, read again, says the permission is there.
 */
function auditForbidden() {
  const me = state.me;
  const text = `${me.name} may not read the audit log: ${state.settings?.authMode === 'kubernetes' ? 'RBAC permission get on auditrecords' : 'role “operator”, “approver” or “auditor”'} required.`;
  const key = `forbidden:${text}`;
  if (state.rendered.get('audit') === key) return;
  resetAudit();
  auditFiltersEnabled(false);
  renderIf($('audit'), key, () => h('p', { class: 'perm', id: 'au-perm' }, text));
}

/**
 * The gate refused the audit log to this identity (403: the permission was taken away since whoami
 * was read). Noted on the identity held, in place, so that no other request is sent (each refusal
 * is an audit record, which would make the next status poll ask again), and so that the next
 * re-read of whoami, which compares, applies what it says then.
 */
function auditRefused(err) {
  if (!(err instanceof ApiError && err.status === 403) || !state.me) return false;
  state.me.can.auditrecords = false;
  auditForbidden();
  return true;
}

/** #audit says to sign in; what renderIf drew there before is forgotten, so the next page is drawn. */
function auditPlaceholder() {
  state.rendered.delete('audit');
  replaceChildren($('audit'), h('p', { class: 'empty' }, 'Sign in to see the audit history.'));
}

function auditFilters() {
  return { stage: $('au-stage').value, type: $('au-type').value, limit: $('au-limit').value };
}

async function refreshAudit() {
  if (!state.me) return;
  if (state.me.can.auditrecords !== true) return auditForbidden();
  // a change (filter, page, new records) while a load runs: load again when it ends
  if (state.audit.loading) {
    state.audit.again = true;
    return;
  }
  state.audit.loading = true;
  state.audit.again = false;
  const a = state.audit;
  const epoch = a.epoch;
  const headAtStart = state.status?.audit.seq ?? null;
  const filters = auditFilters();
  const asked = JSON.stringify([filters, a.cursor]);
  auditFiltersEnabled(true);
  try {
    const page = await api('GET', `v1/audit${query({ ...filters, cursor: a.cursor ?? undefined })}`);
    if (!state.me || a.epoch !== epoch) return;
    a.shown = asked;
    a.records = page.records;
    a.nextCursor = page.nextCursor;
    a.seenHead = a.cursor === null ? page.head.seq : headAtStart;
    // a new record redraws the newest page: the details the operator has open stay open (and the
    // focus on a summary stays there, by its data-key)
    const openSeqs = new Set([...$('audit').querySelectorAll('tr[data-seq] details[open]')].map((d) => d.closest('tr').dataset.seq));
    renderIf($('audit'), JSON.stringify([filters, a.cursor, page.records.map((r) => r.hash), page.partial]), () => auditTable(page.records, page.partial, openSeqs));
    $('au-newer').disabled = a.cursor === null;
    $('au-newest').disabled = a.cursor === null;
    $('au-older').disabled = page.nextCursor === null;
    const shown = page.records.length ? `Records ${page.records.at(-1).seq}–${page.records[0].seq} of ${page.head.seq}` : '';
    // the gate examines a bounded number of records per request: say where this search stopped
    const stopped = page.partial ? `Searched down to record ${page.nextCursor}; Older goes on from there.` : '';
    $('au-page').textContent = [shown, stopped].filter(Boolean).join(' · ');
    await verifyChain(filters, page.records, epoch);
  } catch (err) {
    if (handleAuthError(err) || a.epoch !== epoch || auditRefused(err)) return;
    // a chain check due for the page shown would write over the error
    clearTimeout(a.verifyTimer);
    $('au-chain').textContent = `Could not load the audit history: ${err.message}`;
    // a passing failure (the gate unreachable, or its 5xx) is tried again by the next status poll;
    // a refusal of the request itself (a 4xx) only when a record is added or the filters change
    const passing = !(err instanceof ApiError) || err.status >= 500;
    if (passing) a.seenHead = null;
    // the page shown is for other filters or another page: not left under these (whose records
    // they may not be), and the pager does not go on from it
    if (a.shown !== asked) {
      a.shown = null;
      a.records = [];
      a.nextCursor = null;
      state.rendered.delete('audit');
      replaceChildren($('audit'), h('p', { class: 'empty' }, `No records shown: those for these filters could not be loaded (see above). ${passing ? 'Tried again with each status poll (every 2 s).' : 'Tried again when a record is added or the filters change.'}`));
      $('au-page').textContent = '';
      $('au-newer').disabled = a.cursor === null;
      $('au-newest').disabled = a.cursor === null;
      $('au-older').disabled = true;
    }
  } finally {
    // after a reset the flags belong to the loads begun since
    if (a.epoch === epoch) {
      a.loading = false;
      if (a.again) void refreshAudit();
    }
  }
}

async function verifyChain(filters, records, epoch) {
  if (state.audit.epoch !== epoch) return;
  clearTimeout(state.audit.verifyTimer);
  // pin the page: the same records even if new ones arrive meanwhile, and no more than it shows
  // (a partial page holds fewer than the limit; the same search from its first record would
  // reach further down)
  const cursor = state.audit.cursor ?? (records.length ? records[0].seq + 1 : undefined);
  const limit = records.length ? records.length : filters.limit;
  let v;
  try {
    v = await api('GET', `v1/audit/verify${query({ ...filters, cursor, limit })}`);
  } catch (err) {
    // the page was loaded: what failed is the check of its chain, which says nothing either way
    if (handleAuthError(err) || state.audit.epoch !== epoch || !state.me || state.audit.records !== records || auditRefused(err)) return;
    replaceChildren($('au-chain'), chainCheckFailed(err));
    return;
  }
  // the page checked is no longer the one shown (another loaded, or its load failed): not its line
  if (state.audit.epoch !== epoch || !state.me || state.audit.records !== records) return;
  replaceChildren($('au-chain'), chainView(v));
  // a full walk was started or is running: look again shortly
  if (v.full.status === 'running' || v.full.status === 'never') state.audit.verifyTimer = setTimeout(() => void verifyChain(filters, records, epoch).catch(() => {}), 3000);
}

/** The chain line when the gate did not answer the check: the records shown are loaded, their chain unchecked. */
function chainCheckFailed(err) {
  const why = err instanceof Unreachable ? 'the gate is unreachable or too slow' : err instanceof ApiError && err.status > 0 ? `HTTP ${err.status}: ${err.message}` : err.message;
  return h('span', { class: 'chain-bad' }, icon('warning'), h('strong', {}, 'Chain check failed'), ` (${why}): the records shown were loaded, but whether their chain holds is not known. Checked again when the page changes or a record is added.`);
}

function auditGo(where) {
  const a = state.audit;
  // a second Older or Newer while the page the first asked for still loads would move from the
  // page on screen (its cursor), not from the one asked for: it waits for that page
  if (where !== 'newest' && a.loading && a.shown !== JSON.stringify([auditFilters(), a.cursor])) return;
  if (where === 'newest') {
    a.cursor = null;
    a.stack = [];
  } else if (where === 'older' && a.nextCursor !== null) {
    a.stack.push(a.cursor);
    a.cursor = a.nextCursor;
  } else if (where === 'newer' && a.cursor !== null) {
    a.cursor = a.stack.pop() ?? null;
  }
  void refreshAudit();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('bg-form').addEventListener('submit', openBreakGlassDialog);
  $('ap-form').addEventListener('submit', approve);
  $('au-filters').addEventListener('submit', (ev) => ev.preventDefault());
  $('bg-stage').addEventListener('change', () => autoPrefill('bg'));
  $('ap-stage').addEventListener('change', () => autoPrefill('ap'));
  $('bg-just').addEventListener('input', () => updateCount('bg-just', 'bg-just-count', state.settings?.breakGlass.justificationMin ?? 0));
  $('ap-notes').addEventListener('input', () => updateCount('ap-notes', 'ap-notes-count', state.settings?.approvals.notesMin ?? 0));
  $('bg-c-confirm').addEventListener('input', () => {
    $('bg-c-ok').disabled = !state.pending || $('bg-c-confirm').value.trim() !== state.pending.stage;
  });
  $('bg-dialog-form').addEventListener('submit', confirmBreakGlass);
  $('bg-c-cancel').addEventListener('click', closeDialog);
  $('bg-dialog').addEventListener('close', () => {
    if ($('bg-dialog').returnValue !== 'confirm') state.pending = null;
    if ($('bg-token').hidden) $('bg-submit').focus();
  });
  $('tg-c-confirm').addEventListener('input', () => {
    $('tg-c-ok').disabled = !state.toggling || state.toggling.moot || $('tg-c-confirm').value.trim() !== state.toggling.name;
  });
  $('tg-dialog-form').addEventListener('submit', confirmToggle);
  $('tg-c-cancel').addEventListener('click', () => $('tg-dialog').close('cancel'));
  // Escape while a dialog's request is under way would hide its outcome (or a grant thought
  // cancelled): where closedBy is not known (holdDialog), the dialog refuses it here
  for (const id of ['bg-dialog', 'rv-dialog', 'ar-dialog', 'tg-dialog']) {
    $(id).addEventListener('cancel', (ev) => {
      if (state.inFlight.has(id)) ev.preventDefault();
    });
  }
  $('tg-dialog').addEventListener('close', () => {
    const name = state.toggling?.name;
    state.toggling = null;
    if (name) $(`tg-${name}-btn`)?.focus();
  });
  $('bg-token-copy').addEventListener('click', async () => {
    const ok = await copyText($('bg-token-value').value);
    $('bg-token-copy').textContent = ok ? 'Copied' : 'Copy failed: select and copy by hand';
    setTimeout(() => ($('bg-token-copy').textContent = 'Copy token'), 2000);
  });
  $('bg-token-done').addEventListener('click', () => {
    hideToken();
    $('bg-submit').focus();
  });
  for (const id of ['au-stage', 'au-type', 'au-limit']) $(id).addEventListener('change', () => auditGo('newest'));
  $('au-newest').addEventListener('click', () => auditGo('newest'));
  $('au-newer').addEventListener('click', () => auditGo('newer'));
  $('au-older').addEventListener('click', () => auditGo('older'));
  // a tab brought back to the front polls at once: browsers slow the timers of background tabs
  // (to once a minute and less), so its status, market state and countdowns may be long stale
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    tick();
    void poll();
  });
  // copy buttons anywhere (image tags)
  document.addEventListener('click', async (ev) => {
    const btn = ev.target instanceof Element ? ev.target.closest('button[data-copy]') : null;
    if (!btn) return;
    const ok = await copyText(btn.dataset.copy);
    const label = btn.querySelector('.copy-label');
    if (label) {
      // the button's name says it too: a screen reader reads the name, not the word shown
      const say = (word) => {
        label.textContent = word;
        btn.setAttribute('aria-label', copyTagLabel(btn.dataset.copy, word));
      };
      say(ok ? 'Copied' : 'Copy failed');
      setTimeout(() => say('Copy'), 1500);
    }
  });
}

wire();
auditPlaceholder();
setInterval(tick, 1000);
void poll();
