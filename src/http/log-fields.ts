import type { FastifyRequest } from 'fastify';

const fields = new WeakMap<FastifyRequest, Record<string, unknown>>();

/** Adds fields to the request's single log line (written when the response is sent). */
export function addLogFields(req: FastifyRequest, more: Record<string, unknown>): void {
  fields.set(req, { ...(fields.get(req) ?? {}), ...more });
}

export function logFieldsOf(req: FastifyRequest): Record<string, unknown> {
  return fields.get(req) ?? {};
}
