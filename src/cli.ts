import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import { runAuditVerify } from './audit/verify-command.ts';
import { checkTokenName, createToken, parseRoles, revokeToken, TokenFileWrittenError, tokenFilePath } from './auth/local-tokens.ts';
import { proxySecretDigest } from './auth/proxy-header.ts';
import { ConfigError, parseConfig, readConfigFile } from './config.ts';
import { createIdFactory } from './ids.ts';
import { createMarketCalendar, marketStateToJson } from './policy/market-hours.ts';
import { IsoInstant } from './routes/common-schemas.ts';

const USAGE = `usage: npm run gate -- <command> [options]

commands:
  token create --name NAME --roles ROLE[,ROLE...]   create a local token (roles: caller, operator, approver,
                                                      admin, ci, auditor); prints it once, stores only its SHA-256
  token revoke --name NAME                            remove a local token (the running gate stops taking it
                                                      within a second)
  audit verify                                        walk the audit hash chain; exit 0 with the count, or 1 naming
                                                      the first broken record, or the records missing at its
                                                      end that the state checkpoint (state.json) has seen;
                                                      2 when the log, or a state.json there, cannot be read
  market [--at ISO]                                   the market state, as GET /v1/market gives it (default: now,
                                                      by the system clock)
  proxy-secret hash                                   print the SHA-256 of the authenticating proxy's secret, read
                                                      from stdin (never the command line), for proxyAuth.secretSha256:
                                                      printf %s "$SECRET" | npm run gate -- proxy-secret hash
                                                      (one final newline is dropped)

options:
  --data-dir DIR   the data directory (default: GATE_DATA_DIR, else the GATE_CONFIG file's dataDir,
                   else ./data), read by token create, token revoke and audit verify
  -h, --help       print this and exit 0
`;

/**
 * The options of its own each command takes (another command's is refused with exit 2); --help
 * and --data-dir go with any (a wrapper may pass the data directory to every command).
 */
const OPTIONS_TAKEN: Readonly<Record<string, readonly string[]>> = {
  'token create': ['name', 'roles'],
  'token revoke': ['name'],
  'audit verify': [],
  market: ['at'],
  'proxy-secret hash': [],
};
const GLOBAL_OPTIONS: readonly string[] = ['help', 'data-dir'];

/**
 * Runs one CLI command; returns the exit code. `out`/`err` receive lines. `delivered` resolves,
 * once what `out` was given has been handed to its reader, with the error that stopped it (null:
 * all of it arrived): a new token that never reached anyone must be said on `err`.
 */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  out: (s: string) => void,
  err: (s: string) => void,
  delivered: () => Promise<Error | null> = async () => null,
  /** what stdin holds (all of it), or null when stdin is a terminal (a typed secret would be echoed) */
  readStdin: () => Promise<Buffer | null> = readProcessStdin,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: { 'data-dir': { type: 'string' }, name: { type: 'string' }, roles: { type: 'string' }, at: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  // an option given twice is a usage error: parseArgs keeps the last value, and `token revoke
  // --name dave --name alice` revoked alice and left dave's token valid
  const seen = new Set<string>();
  for (const tok of parsed.tokens ?? []) {
    if (tok.kind !== 'option') continue;
    if (seen.has(tok.name)) {
      err(`--${tok.name}: given more than once; give it once\n\n${USAGE}`);
      return 2;
    }
    seen.add(tok.name);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? out : err)(USAGE);
    return values.help ? 0 : 2;
  }
  // another command's option is a usage error, not ignored (`token revoke --roles ci` revokes by
  // name alone; `token create --at` makes the token now)
  const takes = OPTIONS_TAKEN[positionals.join(' ')];
  const extra = takes && Object.keys(values).find((k) => !GLOBAL_OPTIONS.includes(k) && values[k as keyof typeof values] !== undefined && !takes.includes(k));
  if (extra) {
    err(`${positionals.join(' ')} does not take --${extra}\n\n${USAGE}`);
    return 2;
  }
  // needs no configuration (a broken one must not keep an operator from making the hash for it)
  if (positionals[0] === 'proxy-secret') return proxySecretHash(positionals, out, err, readStdin);
  // an empty value (`--data-dir "$DIR"` with DIR unset) would be resolved as the current
  // directory: a token made there is one the gate never reads
  if (values['data-dir'] === '') {
    err(`--data-dir: empty; give the data directory, or leave the option out for the default\n\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = parseConfig(env, env['GATE_CONFIG'] ? await readConfigFile(env['GATE_CONFIG']) : null);
  } catch (e) {
    err(`gate: ${(e as Error).message}`);
    return 2;
  }
  const dataDir = resolve(values['data-dir'] ?? config.dataDir);
  const command = positionals.join(' ');
  switch (command) {
    case 'token create': {
      if (!values.name || !values.roles) {
        err(`token create needs --name and --roles\n\n${USAGE}`);
        return 2;
      }
      // a gate on Kubernetes auth never reads the token file: a token made here would be printed
      // as if it worked and never authenticate
      if (config.auth !== 'local') {
        err(`gate: token create makes local tokens, and this gate's auth is ${config.auth} (GATE_AUTH or the config file's auth), which never reads them: give the identity a Kubernetes ServiceAccount or user and a role binding instead (README, Kubernetes)`);
        return 2;
      }
      // input that can never work is a usage error (2), as a missing option is; 1 is a create
      // that failed (a name taken, the file or its lock)
      let roles;
      try {
        roles = parseRoles(values.roles);
        checkTokenName(values.name);
      } catch (e) {
        err(`gate: ${(e as Error).message}`);
        return 2;
      }
      try {
        const fresh = !existsSync(tokenFilePath(dataDir));
        const { token, entry } = await createToken(tokenFilePath(dataDir), values.name, roles, new Date(), createIdFactory()('tok'));
        // a mistyped --data-dir (or one given before the gate's first start) starts a token file
        // of its own: a gate started there makes no admin or kargo token, since a first start
        // makes them only where there is no token file. Said on stderr: the token stays stdout's last line
        if (fresh) err(newTokenFileNote(dataDir));
        out(`created token "${entry.name}" (roles ${entry.roles.join(',')}) in ${tokenFilePath(dataDir)}`);
        out('it is shown only now; store it in a secret manager:');
        out(token);
        // e.g. `token create | head -1`: the reader left before the token's line, which is stored
        // all the same and works, and which nobody saw
        const lost = await delivered();
        if (lost) {
          err(storedUnseen(entry.name, lost.message, 'create it again, reading the whole output (the token is its last line)'));
          return 1;
        }
        return 0;
      } catch (e) {
        // stored, then removing the writer lock failed: the token works, and was never printed
        if (e instanceof TokenFileWrittenError) {
          err(storedUnseen(values.name, (e.cause as Error).message, 'create it again'));
          return 1;
        }
        err(`gate: ${(e as Error).message}`);
        return 1;
      }
    }
    case 'token revoke': {
      if (!values.name) {
        err(`token revoke needs --name\n\n${USAGE}`);
        return 2;
      }
      try {
        // on a Kubernetes-auth gate too: a leaked local token must not work again if the gate
        // goes back to local auth
        let entries;
        let lockLeft: Error | null = null;
        try {
          entries = await revokeToken(tokenFilePath(dataDir), values.name);
        } catch (e) {
          // written, then removing the writer lock failed: the token is revoked all the same (a
          // retry would be told the name is not there), and the lock is one the next writer takes over
          if (!(e instanceof TokenFileWrittenError && e.revoked)) throw e;
          entries = e.revoked;
          lockLeft = e.cause as Error;
        }
        for (const entry of entries) out(`revoked token "${entry.name}" (roles ${entry.roles.join(',')}, created ${entry.createdAt}) from ${tokenFilePath(dataDir)}`);
        out(config.auth === 'local' ? 'the running gate refuses it within a second' : `this gate's auth is ${config.auth}, which never reads local tokens: to take the identity's access away there, remove its role binding`);
        if (lockLeft) {
          err(
            `gate: the token is revoked; then its writer lock ${tokenFilePath(dataDir)}.lock could not be removed (${lockLeft.message}): ` +
              'the next writer takes it over as one left by a writer that is gone (at once on this host, after 5 s elsewhere)',
          );
        }
        return 0;
      } catch (e) {
        err(`gate: ${(e as Error).message}`);
        return 1;
      }
    }
    case 'audit verify':
      return runAuditVerify(dataDir, out);
    case 'market': {
      // the same instants GET /v1/market accepts (an offset is required: a local time would be
      // read in this machine's zone); without --at, the system clock. A gate on GATE_NOW runs its
      // own clock from that instant since it started, which another process cannot know: said.
      if (values.at !== undefined && !IsoInstant.safeParse(values.at).success) {
        err(`--at: "${values.at}" is not an ISO-8601 instant with offset (e.g. 2026-11-27T17:59:59Z)`);
        return 2;
      }
      const at = values.at ? DateTime.fromISO(values.at, { setZone: true }) : DateTime.utc();
      if (values.at === undefined && config.now) {
        err(`gate: this is the market at the system clock; a gate started with GATE_NOW=${config.now} runs its own clock from there: ask its GET /v1/market`);
      }
      try {
        out(JSON.stringify(marketStateToJson(createMarketCalendar(config.market).state(at.toUTC())), null, 2));
        return 0;
      } catch (e) {
        if (e instanceof RangeError || e instanceof ConfigError) {
          err(`gate: ${e.message}`);
          return 2;
        }
        throw e;
      }
    }
    default:
      err(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** A token stored and never shown: said, with how to take it back. */
function storedUnseen(name: string, why: string, then: string): string {
  return (
    `gate: the token "${name}" is stored but could not be printed (${why}): nobody has seen it. ` +
    `Revoke it with \`npm run gate -- token revoke --name ${name}\` and ${then}.`
  );
}

async function readProcessStdin(): Promise<Buffer | null> {
  if (process.stdin.isTTY) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Shortest secret taken: `openssl rand -hex 32` gives 64 characters, `openssl rand -base64 24` 32. */
const MIN_SECRET_CHARS = 32;

/**
 * `proxy-secret hash`: the SHA-256 of the secret on stdin, as the gate hashes the header's value
 * (its bytes). A secret the header could not carry as it is is refused rather than hashed into a
 * value that never matches: a control character, a space or tab at either end (HTTP drops those),
 * anything but printable ASCII; and so is a short one. One final newline (echo, a file) is dropped.
 */
async function proxySecretHash(positionals: string[], out: (s: string) => void, err: (s: string) => void, readStdin: () => Promise<Buffer | null>): Promise<number> {
  const how = 'printf %s "$SECRET" | npm run gate -- proxy-secret hash';
  if (positionals[1] !== 'hash') {
    // the word after proxy-secret is not repeated either: `proxy-secret "$SECRET"` (hash left out)
    // would print the secret on stderr, into a terminal's scrollback or a CI job's log
    err(`${positionals.length > 1 ? 'unknown command "proxy-secret …"' : 'proxy-secret: a command is missing'}; the one there is: ${how}\n\n${USAGE}`);
    return 2;
  }
  if (positionals.length > 2) {
    // said without repeating what was given: it may be the secret
    err(`gate: proxy-secret hash reads the secret from stdin and takes no argument (one on the command line stays in the shell history and the process list): ${how}`);
    return 2;
  }
  const input = await readStdin();
  if (input === null) {
    err(`gate: proxy-secret hash reads the secret from stdin, and stdin is a terminal (what you type would be shown): ${how}`);
    return 2;
  }
  const text = input.toString('latin1').replace(/\r?\n$/, '');
  const problem =
    text === ''
      ? 'stdin is empty'
      : /[^\x20-\x7e]/.test(text)
        ? 'the secret holds a character other than printable ASCII (a control character, a second line, a byte above 0x7e): a proxy could not send it as it is'
        : /^[ \t]|[ \t]$/.test(text)
          ? 'the secret starts or ends with a space, which HTTP drops from a header value: the gate would never see it as hashed'
          : text.length < MIN_SECRET_CHARS
            ? `the secret is shorter than ${MIN_SECRET_CHARS} characters`
            : null;
  if (problem) {
    err(`gate: ${problem}; make one with: SECRET=$(openssl rand -hex 32)`);
    return 2;
  }
  out(proxySecretDigest(text).toString('hex'));
  return 0;
}

if (import.meta.main) {
  // a reader that goes away (`| head -1`) is an EPIPE on a later write: kept for `delivered`, not
  // an uncaught error with a stack
  let stdoutError: Error | null = null;
  process.stdout.on('error', (e) => {
    stdoutError ??= e;
  });
  const delivered = () => new Promise<Error | null>((resolve) => process.stdout.write('', (e) => resolve(stdoutError ?? e ?? null)));
  const code = await runCli(process.argv.slice(2), process.env, (s) => process.stdout.write(`${s}\n`), (s) => process.stderr.write(`${s}\n`), delivered);
  process.exitCode = code;
}

/** token create started a token file: what that means for a gate started on the directory. */
function newTokenFileNote(dataDir: string): string {
  return (
    `gate: note: ${tokenFilePath(dataDir)} did not exist; this token starts it. A gate's first start makes its admin and kargo tokens only where there is no token file, ` +
    `so a gate started on ${dataDir} will know only the tokens created with token create. If that is not your gate's data directory (its GATE_DATA_DIR), remove ${dataDir} and create the token again with the right --data-dir`
  );
}
