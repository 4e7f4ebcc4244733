import type { FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.ts';
import { ANONYMOUS } from '../auth/identity.ts';

const identities = new WeakMap<FastifyRequest, Identity>();

/** Remembers who made the request (set by the auth hook). */
export function setIdentity(req: FastifyRequest, identity: Identity): void {
  identities.set(req, identity);
}

/** Who made the request; ANONYMOUS on public routes. */
export function identityOf(req: FastifyRequest): Identity {
  return identities.get(req) ?? ANONYMOUS;
}
