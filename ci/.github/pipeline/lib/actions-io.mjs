// GitHub Actions I/O for the pipeline scripts: step outputs, the step summary and workflow
// command annotations. Outside Actions (GITHUB_OUTPUT / GITHUB_STEP_SUMMARY unset) outputs are
// printed as `name=value` lines and the summary goes to stdout, so the scripts run by hand too.
import { appendFileSync } from 'node:fs';

/** Exit codes shared by the scripts (ci/README.md documents them). */
export const EXIT = Object.freeze({ OK: 0, TESTS_FAILED: 1, USAGE: 2, REFUSED: 3, UNAVAILABLE: 4, INTERNAL: 5 });

/** A problem with how the script was called or with its input: exit 2, nothing sent. */
export class UsageError extends Error {
  name = 'UsageError';
}

/**
 * Text the script does not write itself (the gate's answer, a proxy's page, a value it was
 * given) made one line for the job log: the runner reads every line of stdout and stderr that
 * starts with `::` (after blanks) as a workflow command (`::add-mask::`, `::stop-commands::`,
 * `::error::`), so a line break in it could issue one. Line breaks, other whitespace runs and
 * control characters (terminal escapes) become one space.
 */
export function singleLine(text) {
  return String(text).replace(/[\s\x00-\x1f\x7f-\x9f]+/g, ' ').trim();
}

/** Escapes the message part of a workflow command (`::error::message`). */
export function escapeData(s) {
  return String(s).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a workflow command property value (`title=...`). */
export function escapeProperty(s) {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/**
 * Prints an annotation (`level` is error, warning or notice) as a workflow command on stdout.
 * The runner shows it on the run page; outside Actions it is a readable line.
 */
export function annotate(level, title, message) {
  process.stdout.write(`::${level} title=${escapeProperty(title)}::${escapeData(message)}\n`);
}

/**
 * Sets step outputs (values are turned into single-line strings). Returns nothing; throws when
 * GITHUB_OUTPUT names a file that cannot be written, which fails the step loudly.
 */
export function setOutputs(outputs, env = process.env) {
  const lines = Object.entries(outputs).map(([k, v]) => `${k}=${String(v ?? '').replace(/[\r\n]+/g, ' ')}\n`);
  if (env.GITHUB_OUTPUT) appendFileSync(env.GITHUB_OUTPUT, lines.join(''));
  else process.stdout.write(lines.map((l) => `output: ${l}`).join(''));
}

/** Appends markdown to the job's step summary (or prints it when not in Actions). */
export function appendSummary(markdown, env = process.env) {
  const text = markdown.endsWith('\n') ? markdown : `${markdown}\n`;
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, text);
  else process.stdout.write(`--- step summary ---\n${text}--- end of step summary ---\n`);
}

/** Escapes text for a markdown table cell or inline position (pipes, backticks, newlines, HTML). */
export function mdEscape(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/`/g, "'")
    .replace(/[\r\n]+/g, ' ');
}

/**
 * Runs a pipeline script's main(argv, env) and sets the process's exit code: main's own, or
 * EXIT.USAGE (with the usage text, as an annotation too) for a UsageError, or EXIT.INTERNAL for
 * anything unexpected.
 */
export async function runScript(name, usage, main) {
  try {
    process.exitCode = await main(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      annotate('error', `${name} usage`, err.message);
      process.stderr.write(`${name}: ${singleLine(err.message)}\n\n${usage}\n`);
      process.exitCode = EXIT.USAGE;
    } else {
      process.stderr.write(`${name}: unexpected error: ${err?.stack ?? err}\n`);
      process.exitCode = EXIT.INTERNAL;
    }
  }
}
