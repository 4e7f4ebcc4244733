/**
 * A fault or refusal with its HTTP status and machine-readable code. Every error the gate sends
 * is JSON `{error, message, ...extra}`; 5xx bodies never carry internals.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, unknown>;
  constructor(status: number, code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/**
 * A request the gate turned away on purpose, to protect itself, not because anything failed (a
 * bounded line is full): logged as a warning without a stack, not as a failed request, and counted
 * in gate_requests_shed_total by its code. During the flood it exists for, an error line with a
 * stack for each would be noise that costs the thread it protects.
 */
export class ShedError extends HttpError {
  override name = 'ShedError';
}

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { error: code, message, ...extra };
}

/**
 * The gate clock has run past the market calendar (2000-2099 by New York date; only a GATE_NOW
 * clock can get there): nothing that needs the market now can be answered, and waiting mends nothing.
 */
export const clockOutsideCalendar = (err: RangeError, gateNow: string | null): HttpError =>
  new HttpError(
    503,
    'clock_outside_calendar',
    `The gate clock is outside the market calendar, so the gate decides nothing: ${err.message}. ` +
      (gateNow === null ? 'Check the system clock.' : `The clock runs from GATE_NOW=${gateNow}: restart the gate with an earlier GATE_NOW, or without one.`),
    { retryable: false },
  );

export const auditUnavailable = (): HttpError =>
  new HttpError(503, 'audit_unavailable', 'The audit log cannot be written, so the gate answers nothing it cannot record. Retry later.', {
    retryable: true,
  });
