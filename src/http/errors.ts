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

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { error: code, message, ...extra };
}

export const auditUnavailable = (): HttpError =>
  new HttpError(503, 'audit_unavailable', 'The audit log cannot be written, so the gate answers nothing it cannot record. Retry later.', {
    retryable: true,
  });
