import { lookup } from 'node:dns/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { makeDataDir } from './store/make-data-dir.ts';
import { createServer, isIP } from 'node:net';
import { constants, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { openFileAuditLog } from './audit/file-log.ts';
import { createLocalAuthenticator, removeLeftoverTokenTemps, tokenFilePath } from './auth/local-tokens.ts';
import { createProxyHeaderAuthenticator, proxyAuthNotices } from './auth/proxy-header.ts';
import { type FirstStartToken, bootstrapLocalTokens, firstStartMessage, writeFirstStartTokensFile } from './bootstrap-tokens.ts';
import { ConfigError, GATE_ENV_KEYS, parseConfig, readConfigFile, unknownGateEnv } from './config.ts';
import type { KargoHealth } from './deps.ts';
import { replayAuditTail } from './gate/recorder.ts';
import { createIdFactory } from './ids.ts';
import { createLogger, dropLog, flushLogger } from './logger.ts';
import { clockFrom, type Clock } from './policy/clock.ts';
import { extrasWithoutEffect } from './policy/extras-without-effect.ts';
import { createMarketCalendar } from './policy/market-hours.ts';
import { emptyState } from './policy/state.ts';
import { acquireDataDirLock, isProcessAlive, processStartTime, readBootId, readPidNamespace } from './store/data-dir-lock.ts';
import { removeLeftoverTemps } from './store/durable-json-file.ts';
import { openLowdbStore } from './store/lowdb-store.ts';
import { waitUntilWritable } from './store/wait-until-writable.ts';
import { whenVolumeTakesWrites } from './store/when-volume-takes-writes.ts';
import { listenWhileStarting, stopListeningWhileStarting } from './http/listen-while-starting.ts';
import type { Server } from 'node:http';
import type { Stage } from './stages.ts';

/**
 * The signals that stop the gate, all alike: SIGTERM (Kubernetes, systemd), SIGINT (Ctrl-C),
 * SIGHUP (the terminal of `npm start` closed) and SIGQUIT (Ctrl-\). Any of them starts the one
 * graceful stop, and any that comes after it is ignored: left to Node or closeWithGrace, a SIGHUP
 * or SIGQUIT killed a starting gate outright, and one during the drain exited 1 at once, cutting
 * off the requests in flight and leaving the data directory lock behind.
 */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const satisfies readonly NodeJS.Signals[];

/**
 * A stop signal before the graceful shutdown is set up (while the lock's lease is waited for, up
 * to 35 s, or the log is replayed) ends the start-up: as pid 1 in a container a signal without a
 * handler would be ignored, and the orchestrator would have to kill the gate.
 */
const starting = new AbortController();
let startingStoppedBy: NodeJS.Signals | null = null;
/** the gate's logger once main has made it */
let startLog: Logger | null = null;
const stopStarting = (signal: NodeJS.Signals) => {
  // a repeat changes nothing. Not `once`: a repeat would then kill the gate mid-start, and one
  // comes at every Ctrl-C of `npm start` (the terminal signals npm and the gate, and npm forwards
  // its own to the gate)
  if (starting.signal.aborted) {
    startLog?.warn({ signal }, 'stopping already: a repeated stop signal during start-up is ignored');
    return;
  }
  startingStoppedBy = signal;
  starting.abort(new Error(`stopped by ${signal} during start-up`));
  // only the lock's wait and the replay see the abort: a step that blocks on a hung volume (the
  // audit log's or the state's open, a directory) would hold the stop until a SIGKILL. If the
  // start-up has not ended within 5 s it ends here, with the signal's status (once the gate's
  // graceful stop takes over, with its own 10 s deadline, this is called off)
  startStopTimer = setTimeout(() => {
    process.stderr.write(`gate: stopped by ${signal} during start-up: a start-up step did not end within ${START_STOP_MS / 1000} s (a hung volume?)\n`);
    // ended by the signal itself, its default action restored: an exit would wait for the libuv
    // thread that the hung call holds (the exit joins them) and never end
    for (const s of STOP_SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, signal === 'SIGQUIT' ? 'SIGTERM' : signal);
  }, START_STOP_MS).unref();
};
/** How long a stop signal during start-up waits for the start-up to end before the gate exits anyway. */
const START_STOP_MS = 5000;
let startStopTimer: NodeJS.Timeout | null = null;
for (const signal of STOP_SIGNALS) process.on(signal, stopStarting);
// a stderr whose reader is gone (`npm start 2>&1 | head -1`) is an EPIPE on a write: an 'error'
// without a listener would kill the gate there, mid-start, its data directory lock left behind.
// The write that matters (the first start's tokens) sees its error in its callback
process.stderr.on('error', () => undefined);

/** How long SIGTERM waits for requests in flight before it closes their connections (the whole stop must fit in 10 s). */
const DRAIN_MS = 7000;

/** How often a gate whose lock lapsed tries whether the data volume takes a write again. */
const VOLUME_PROBE_MS = 2000;

/**
 * The process: the only place that reads the environment, touches the real clock, listens and
 * handles signals. Everything else is built by buildApp from what this file hands it.
 */
async function main(): Promise<void> {
  let config;
  try {
    const file = process.env['GATE_CONFIG'];
    config = parseConfig(process.env, file ? await readConfigFile(file) : null);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gate: cannot start: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, undefined, [config.proxyAuth.secretHeader]);
  startLog = log;
  const realClock: Clock = { now: () => DateTime.utc() };
  const clock = config.now ? clockFrom(DateTime.fromISO(config.now, { setZone: true }), () => performance.now()) : realClock;
  if (config.now) {
    const warning = '*** GATE_NOW is set: the gate clock started at this instant, not the real time. Demos and tests only. ***';
    log.warn({ GATE_NOW: config.now }, warning);
    // on stderr too, whatever the log level: a gate on a fake clock must never go unnoticed
    process.stderr.write(`gate: ${warning} GATE_NOW=${config.now}\n`);
  }
  if (!config.audit.fsync) {
    const warning = '*** audit.fsync is false: decisions are answered before their audit records reach the disk, and a power cut can lose records of answered decisions. Tests and benchmarks only. ***';
    log.warn({ fsync: false }, warning);
    // as GATE_NOW: a gate that breaks the audit log's promise must never go unnoticed
    process.stderr.write(`gate: ${warning}\n`);
  }
  // the extras were checked by parseConfig
  const calendar = createMarketCalendar(config.market);
  try {
    // a GATE_NOW inside 2000-2099 by UTC year can still be a New York date the calendar cannot
    // answer for (1999-12-31): refuse it here rather than answer every decision and status
    // request with a 500
    calendar.state(clock.now());
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    process.stderr.write(`gate: cannot start: ${config.now ? `GATE_NOW=${config.now}` : 'the system clock'}: ${err.message}\n`);
    process.exit(2);
  }
  for (const x of extrasWithoutEffect(calendar, config.market)) log.warn({ key: x.key, date: x.date }, `config: ${x.key}: ${x.message}`);
  const unknown = unknownGateEnv(process.env);
  if (unknown.length > 0) log.warn({ unknown, known: GATE_ENV_KEYS }, 'environment variables that look like gate settings but are not read (a typo?)');

  // a listen host that does not resolve, or a data directory that cannot be one, would fail only
  // later: after the data directory was taken and a first start's tokens made and printed, with
  // exit 1 and a message that does not name the key
  // and the one address to listen on: given a name, fastify binds every address it resolves to
  // (localhost: 127.0.0.1 and ::1), each but the first a server of its own without the gate's
  // connection cap, client-error answers, Expect handling or drain
  let listenHost = config.host;
  if (isIP(config.host) === 0) {
    try {
      listenHost = (await lookup(config.host)).address;
    } catch (err) {
      // a name no resolver knows is a setting to fix; a resolver that did not answer (EAI_AGAIN)
      // fails the start as before (exit 1, the orchestrator retries)
      if ((err as NodeJS.ErrnoException).code !== 'ENOTFOUND') throw err;
      process.stderr.write(`gate: cannot start: host (GATE_HOST) ${config.host} does not resolve: ENOTFOUND\n`);
      process.exit(2);
    }
  }
  // an address this host does not have, or a port it may not open, is a setting to fix too. A
  // port in use may free up: exit 1 (the orchestrator tries again), but before the data directory
  // is touched, or a first start made and printed its tokens and then failed at listen, and the
  // next start, no longer a first start, printed none
  const bindError = await tryListen(listenHost, config.port);
  if (bindError === 'EADDRINUSE') {
    process.stderr.write(`gate: cannot start: port (GATE_PORT) ${config.port} on ${listenHost} is in use (EADDRINUSE); nothing was made in the data directory\n`);
    process.exit(1);
  }
  if (bindError === 'EADDRNOTAVAIL') {
    process.stderr.write(`gate: cannot start: host (GATE_HOST) ${config.host}${listenHost === config.host ? '' : ` (${listenHost})`} is not an address of this host: EADDRNOTAVAIL\n`);
    process.exit(2);
  }
  if (bindError === 'EACCES') {
    process.stderr.write(`gate: cannot start: port (GATE_PORT) ${config.port}: not allowed to listen on it (EACCES: ports below 1024 need privileges)\n`);
    process.exit(2);
  }
  // a Kubernetes configuration that cannot be loaded is a setting to fix, said before the data
  // directory is taken (and, on a first start, before anything is made in it)
  let kubeConfig: KubeConfig | null = null;
  if (config.auth === 'kubernetes') {
    // loaded only in this mode: the Kubernetes client is the heaviest dependency to start
    const { loadKubeConfig } = await import('./k8s/api-call.ts');
    try {
      kubeConfig = loadKubeConfig(process.env);
    } catch (err) {
      process.stderr.write(`gate: cannot start: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  const newId = createIdFactory();
  const dataDir = resolve(config.dataDir);
  /** The data directory and its audit directory, made where missing (a fresh volume): in the wait below, with the lock */
  const makeTheDataDir = async (): Promise<void> => {
    try {
      await makeDataDir(dataDir);
    } catch (err) {
      // a file where the directory should be is a setting to fix; a volume that refuses writes
      // (EROFS, ENOSPC, EDQUOT) is waited for as the lock's write is; another failure (EACCES,
      // EIO) fails the start as before (exit 1, the orchestrator retries)
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTDIR' && code !== 'EEXIST') throw err;
      process.stderr.write(`gate: cannot start: dataDir (GATE_DATA_DIR) ${dataDir} is not a directory: ${(err as Error).message}\n`);
      process.exit(2);
    }
  };
  // lost for good (taken over, or the lease lapsed): stop, and exit 1 so the orchestrator starts a
  // fresh gate, which reads the log from disk and takes the lock only if it is free. Taken over:
  // at once. Lapsed (the volume failed the renewals for a whole lease, or the gate stalled): once
  // the volume takes a write again (waitForVolume), answering 503 meanwhile, as for a full disk:
  // a gate that exits then restarts into the same outage, fails, and backs off (up to minutes
  // after the volume is back), and Kargo meets refused connections instead of a 503 to poll
  let lockLost: string | null = null;
  let stop: (() => void) | null = null;
  let waitForVolume: (() => void) | null = null;
  // a volume that refuses the lock's write (full, over quota, read-only) may take it again: the
  // gate answers 503 meanwhile (listenWhileStarting) and tries every 2 s, rather than exit 1 into
  // a crash loop whose back-off outlasts the outage by minutes, with Kargo meeting refused
  // connections in between
  let startingAnswers: Server | null = null;
  const takeLock = () =>
    acquireDataDirLock({
      dir: dataDir,
      host: hostname(),
      pid: process.pid,
      now: Date.now,
      isAlive: isProcessAlive,
      bootId: readBootId(),
      processStart: processStartTime,
      pidNamespace: readPidNamespace(),
      // a holder only its lease can judge (a container restarted in its pod, another host after a
      // crash) is waited out rather than refused: one lease and a renewal's slack
      waitForLeaseMs: 35_000,
      onWait: (why) => log.warn({ dataDir }, why),
      signal: starting.signal,
      onLost: (why, cause) => {
        lockLost = why;
        if (cause === 'lapsed' && waitForVolume) {
          log.error({ why, dataDir }, 'lost the data directory lock: this gate no longer writes the audit log; it answers 503 until the data volume takes a write again, then stops (exit 1) for a fresh start');
          waitForVolume();
          return;
        }
        log.error({ why, dataDir }, 'lost the data directory lock: this gate no longer writes the audit log and stops');
        stop?.();
      },
    });
  const makeDirAndTakeLock = async () => {
    await makeTheDataDir();
    return takeLock();
  };
  let refusedBy = '';
  const lock = await whenVolumeTakesWrites(makeDirAndTakeLock, {
    intervalMs: VOLUME_PROBE_MS,
    signal: starting.signal,
    onRefused: async (code, err) => {
      log.warn({ err: (err as Error).message, dataDir }, 'cannot make the data directory or take its lock: the data volume refuses writes; answering 503, trying again every 2 s');
      refusedBy = code;
      startingAnswers ??= await listenWhileStarting(listenHost, config.port, () => `its data volume refuses writes (${refusedBy})`);
    },
  }).finally(() => (startingAnswers === null ? undefined : stopListeningWhileStarting(startingAnswers)));

  // from here on every way out releases the lock: one left behind would hold off a gate on
  // another host (NFS) for a whole lease
  const onFailedStart: (() => Promise<unknown>)[] = [];
  try {
    // temp files of writes cut short by a crash (written, never renamed over their file): only
    // this gate, holding the lock, may write the state checkpoint, and the token file's are taken
    // under that file's writer lock. Not a reason to stop: a temp file left in place is harmless
    const state = join(dataDir, 'state.json');
    for (const [what, remove] of [
      ['state checkpoint', () => removeLeftoverTemps(state)],
      ['token file', () => removeLeftoverTokenTemps(tokenFilePath(dataDir))],
    ] as const) {
      try {
        const removed = await remove();
        if (removed.length > 0) log.warn({ removed }, `removed temp files of ${what} writes a crash cut short`);
      } catch (err) {
        log.warn({ err }, `could not remove the temp files of ${what} writes a crash cut short; left in place`);
      }
    }
    const audit = await openFileAuditLog({
      dir: join(dataDir, 'audit'),
      fsync: config.audit.fsync,
      maxFileBytes: config.audit.maxFileBytes,
      logger: { warn: (o, m) => log.warn(o, m), info: (o, m) => log.info(o, m) },
      // a gate whose lease lapsed (or was taken over) must not write: another gate may own the files
      isWriter: () => lock.held(),
    });
    onFailedStart.push(() => audit.close());
    const store = await openLowdbStore(state, () => emptyState(config.stages), {
      isWriter: () => lock.held(),
      onWriteError: (err) => log.error({ err }, 'state checkpoint write failed (the audit log holds the change)'),
    });
    const replayed = await replayAuditTail(audit, store, join(dataDir, 'audit'), starting.signal);
    if (replayed > 0) log.warn({ replayed }, 'state checkpoint was behind the audit log; replayed the newer records');

    let auth;
    let tokenReviewsShed: (() => number) | null = null;
    let kargo: { tags: () => Partial<Record<Stage, { imageTag: string; at: string | null }>>; health: () => KargoHealth; stop: () => void } | null = null;
    if (config.auth === 'local') {
      const file = tokenFilePath(dataDir);
      // handed over once, on stderr or in a 0600 file (firstStartTokens), never through the logger.
      // Either is written before the hashes are stored: if it cannot be (the file, or stderr's
      // reader gone: EPIPE), the start fails with nothing stored, and the next one is a first start
      // again (no tokens lost to no one)
      const handOver =
        config.firstStartTokens === 'file'
          ? (made: readonly FirstStartToken[]) => writeFirstStartTokensFile(made, file, dataDir)
          : async (made: readonly FirstStartToken[]) => {
              const failed = await new Promise<Error | null>((resolve) => process.stderr.write(firstStartMessage(made, file, 'print', dataDir), (e) => resolve(e ?? null)));
              if (failed) {
                // said on stdout, the one way left
                log.error(
                  { err: failed.message, tokenFile: file },
                  'first start: the local tokens could not be printed on stderr, so none was stored; the next start is a first start again: start the gate with its stderr read (or with firstStartTokens: file)',
                );
                throw new Error(`the first start's tokens could not be printed on stderr (${failed.message}); none was stored`);
              }
            };
      const made = await bootstrapLocalTokens(file, new Date(), newId, handOver);
      if (made.length > 0 && config.firstStartTokens === 'file') process.stderr.write(firstStartMessage(made, file, 'file', dataDir));
      auth = createLocalAuthenticator(file);
    } else {
      const { serverOf } = await import('./k8s/api-call.ts');
      const { createKargoStageReader } = await import('./k8s/kargo-stages.ts');
      const { createKubernetesAuthenticator } = await import('./k8s/kubernetes-auth.ts');
      const kc = kubeConfig as KubeConfig; // loaded before the data directory was taken
      log.info({ apiServer: serverOf(kc) }, 'identity from Kubernetes TokenReview and SubjectAccessReview');
      const kubeAuth = createKubernetesAuthenticator({
        kubeConfig: kc,
        timeoutMs: config.kubernetes.apiTimeoutMs,
        cacheSeconds: config.kubernetes.reviewCacheSeconds,
        maxReviewsInFlight: config.kubernetes.maxReviewsInFlight,
      });
      auth = kubeAuth;
      tokenReviewsShed = kubeAuth.reviewsShed;
      const reader = createKargoStageReader({
        kubeConfig: kc,
        namespace: config.project,
        pollMs: config.kubernetes.stagePollSeconds * 1000,
        timeoutMs: config.kubernetes.apiTimeoutMs,
        repoPrefix: config.kubernetes.imageRepoPrefix,
        onError: (err) => log.warn({ err: err.message }, 'could not read the Kargo stages; /v1/status keeps the last known tags'),
        onUnreadable: (stage, skipped) =>
          log.warn({ stage, skipped }, 'a Kargo Stage has entries the gate cannot read; they are skipped (the stage keeps its last known tag if the rest has none)'),
      });
      await reader.start();
      kargo = reader;
      onFailedStart.push(async () => reader.stop());
    }

    let proxySecretMatches: (() => number[]) | null = null;
    if (config.proxyAuth.trustedCidrs.length > 0) {
      const proxyAuth = createProxyHeaderAuthenticator(auth, config.proxyAuth);
      auth = proxyAuth;
      if (config.proxyAuth.secretSha256.length > 0) proxySecretMatches = proxyAuth.secretMatches;
    }
    for (const { level, fields, message } of proxyAuthNotices(config.proxyAuth)) log[level](fields, message);
    const app = await buildApp({ config, clock, newId, audit, store, auth, calendar, dataDir, logger: log, deployedTags: kargo ? kargo.tags : null, kargoHealth: kargo ? kargo.health : null, tokenReviewsShed, proxySecretMatches });

    let shuttingDown = false;
    /** ends a wait for the data volume (a lapsed lock) when the gate stops anyway */
    const volumeWait = new AbortController();
    let stopSignal: NodeJS.Signals | null = null;
    // the stop signals are handled below, not by closeWithGrace: it exits 1 at once on a second
    // one, mid-drain, leaving the lock behind and the audit log unclosed
    const grace = closeWithGrace(
      {
        delay: 10_000,
        skip: [...STOP_SIGNALS],
        logger: { error: (m: unknown) => log.error(m) },
        // the exit 1 that follows must not wait on a stdout nobody reads (pino's last flush would
        // retry for ever): said on stderr, and the log dropped
        onTimeout: (ms: number) => {
          process.stderr.write(`gate: the stop did not finish within ${ms} ms: exit 1\n`);
          dropLog(log);
        },
      },
      async ({ signal, err }) => {
      shuttingDown = true;
      volumeWait.abort();
      if (err) log.error({ err }, 'fatal error, shutting down');
      else if (lockLost) log.error({ why: lockLost }, 'shutting down: the data directory lock is lost');
      else log.info({ signal: signal ?? stopSignal ?? undefined }, 'shutting down: no new requests, finishing those in flight');
      // keep-alive connections whose last request finishes during the drain become idle; close
      // them as they do, or server.close() would wait for their keep-alive timeout
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      // a client that never finishes its request (a stalled body, half its headers) must not hold
      // the shutdown past its deadline: after DRAIN_MS the connections left are closed. Nothing
      // acknowledged is lost (an answer leaves only after its record is fsynced); a request cut
      // off is one its client never saw answered, and Kargo asks again.
      const forceClose = setTimeout(() => {
        log.warn({ drainMs: DRAIN_MS }, 'shutting down: closing connections still open after the drain');
        app.server.closeAllConnections();
      }, DRAIN_MS);
      try {
        await app.close();
        clearTimeout(forceClose);
        clearInterval(reaper);
        kargo?.stop();
        await audit.close();
        // the state checkpoint is written only by the lock's holder (a new holder's must not be replaced)
        if (lock.held()) {
          try {
            await store.flush();
          } catch (err) {
            // not a failed stop: the checkpoint only saves replaying the log. Every change is in
            // the audit log first (acknowledged ones fsynced), the last good state.json stays in
            // place (written by rename), and the next start replays the records after its auditSeq
            log.warn({ err }, 'final state checkpoint could not be written; the next start replays the audit log records it lacks');
          }
        }
      } finally {
        // whatever failed above: a lock left behind holds off a gate on another host for a lease
        await lock.release();
      }
      if (lockLost) {
        log.error('stopped: the data directory lock was lost (exit 1)');
        await flushLogger(log);
        process.exit(1);
      }
      log.info('stopped cleanly');
      await flushLogger(log);
    });
    // a loss during a shutdown already under way is seen at its end (exit 1)
    stop = () => {
      if (!shuttingDown) void grace.close();
    };
    if (lockLost) stop();
    waitForVolume = () => {
      void waitUntilWritable(() => lock.probe(), {
        intervalMs: VOLUME_PROBE_MS,
        signal: volumeWait.signal,
        onFailure: (err) => log.warn({ err: (err as Error).message, dataDir }, 'the data volume still refuses writes: answering 503, trying again'),
      }).then((writable) => {
        if (!writable) return;
        log.warn({ dataDir }, 'the data volume takes writes again: stopping (exit 1) for a fresh start, which takes the lock once it is free');
        stop?.();
      });
    };
    // a stop signal stops the gate now; a repeat during the stop, of any of them (npm start
    // forwards a Ctrl-C the gate got from the terminal too; a terminal closed mid-stop sends
    // SIGHUP), is ignored: the stop ends within 10 s all the same
    const onStopSignal = (signal: NodeJS.Signals) => {
      if (shuttingDown) {
        log.warn({ signal }, 'shutting down already: a repeated stop signal is ignored');
        return;
      }
      stopSignal = signal;
      stop?.();
    };
    for (const signal of STOP_SIGNALS) {
      process.on(signal, onStopSignal);
      process.off(signal, stopStarting);
    }
    if (startStopTimer !== null) clearTimeout(startStopTimer);
    // one that came during the start-up stops the gate as it would
    if (starting.signal.aborted) {
      stopSignal = startingStoppedBy;
      log.info({ why: (starting.signal.reason as Error).message }, 'stopping: a stop signal came during start-up');
      stop();
      return;
    }

    let address: string;
    try {
      address = await app.listen({ host: listenHost, port: config.port });
    } catch (err) {
      throw new Error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, { cause: err });
    }
    log.info({ address, dataDir, auth: config.auth, project: config.project, auditHead: audit.head() }, 'gate listening');
  } catch (err) {
    for (const undo of onFailedStart.reverse()) await undo().catch(() => undefined);
    await lock.release().catch((e: unknown) => log.error({ err: e }, 'could not remove the data directory lock'));
    // a stop signal that cut the start-up short once the lock was taken (the replay): a stop as
    // one later is, exit 0
    if (starting.signal.aborted && err === starting.signal.reason) {
      log.info({ why: (err as Error).message }, 'stopped: a stop signal came during start-up');
      await flushLogger(log);
      process.exit(0);
    }
    await flushLogger(log);
    throw err;
  }
}

main().catch((err) => {
  process.stderr.write(`gate: cannot start: ${(err as Error).message}\n`);
  // stopped by a signal while starting (nothing held any more): the signal's conventional status
  process.exit(startingStoppedBy && err === starting.signal.reason ? 128 + constants.signals[startingStoppedBy] : 1);
});

/** The error code of listening on `host`:`port` (the listener closed at once), or null when it can. */
function tryListen(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'EINVAL'));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
}
