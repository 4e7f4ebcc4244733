// Which commits on main start a run of this workflow, by GitHub's rules for `on: push`: a push
// runs nothing when its commit message carries a skip instruction, or when every path it
// changes matches `paths-ignore`. Pure: no I/O. Used by main-moved.mjs to tell a newer commit
// that will get its own run (and so its own marker) from one that never will (Kargo's
// promotion commits: values-<stage>.yaml only, `[skip ci]` in the subject).
import { UsageError } from './actions-io.mjs';

/** GitHub's skip instructions for push-triggered workflows (docs: "Skipping workflow runs"). */
export const SKIP_MARKERS = Object.freeze(['[skip ci]', '[ci skip]', '[no ci]', '[skip actions]', '[actions skip]']);

/**
 * The skip instruction in a commit message, or null: one of SKIP_MARKERS anywhere in it, or a
 * `skip-checks:true` / `skip-checks: true` trailer after an empty line.
 */
export function skipInstruction(message) {
  const text = String(message ?? '');
  const marker = SKIP_MARKERS.find((m) => text.includes(m));
  if (marker) return marker;
  // trailers: the last paragraph of a message that has more than one
  const paragraphs = text.trim().split(/\n[ \t]*\n/);
  const trailers = paragraphs.length > 1 ? paragraphs.at(-1).split('\n').map((l) => l.trim()) : [];
  return trailers.some((l) => /^skip-checks: ?true$/.test(l)) ? 'skip-checks: true' : null;
}

/**
 * A GitHub filter pattern as a RegExp over the whole path. Supported: `*` (any characters but
 * `/`) and `**` (any characters). The other special characters of GitHub's pattern syntax
 * (`?`, `+`, `[]`, a leading `!`) are refused, so a pattern this code would read differently
 * from GitHub is a usage error instead of a silent mismatch.
 */
export function pathPattern(glob) {
  const text = String(glob ?? '').trim();
  if (!text) throw new UsageError('an empty paths-ignore pattern');
  if (/[?+[\]!]/.test(text)) throw new UsageError(`paths-ignore pattern "${text}" uses ?, +, [] or !, which this check does not implement: use * and ** only`);
  let re = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '*' && text[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (text[i] === '*') re += '[^/]*';
    else re += text[i].replace(/[.^$(){}|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Parses IGNORED_PATHS (one pattern a line, as in the workflow's `paths-ignore`). */
export function parseIgnoredPaths(text) {
  return String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((glob) => ({ glob, re: pathPattern(glob) }));
}

/**
 * Whether a commit starts a run of the workflow: {triggers, why}. `files` are the paths it
 * changes (a rename lists both names). No skip instruction, and at least one path outside
 * `ignored` (parsed patterns), means it does.
 */
export function triggersCi({ message, files }, ignored) {
  const skip = skipInstruction(message);
  if (skip) return { triggers: false, why: `${skip} in its message` };
  if (!files.length) return { triggers: false, why: 'it changes no file' };
  const built = files.find((f) => !ignored.some((p) => p.re.test(f)));
  if (!built) return { triggers: false, why: `it changes only ignored paths (${ignored.map((p) => p.glob).join(', ')})` };
  return { triggers: true, why: `it changes ${built}${files.length > 1 ? ` and ${files.length - 1} more path(s)` : ''}` };
}
