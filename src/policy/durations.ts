import type { DateTime } from 'luxon';

/** "2h 14m", "14m", "45s", "3d 2h": the time from `from` to `to`, rounded up to the second, then down to its two largest units, for humans. */
export function formatTimeLeft(from: DateTime, to: DateTime): string {
  // rounded up: while anything is left it is at least 1s ("in 0s" in the session's last second read as closed)
  let seconds = Math.max(0, Math.ceil(to.diff(from).as('seconds')));
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days > 0) return hours > 0 ? `${days}d ${hours}h` : `${days}d`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m`;
  return `${seconds}s`;
}
