import type { FastifyInstance } from 'fastify';

/** GET /openapi.json: the OpenAPI document, generated from the zod schemas the routes validate with. */
export function openapiRoutes() {
  return async (app: FastifyInstance) => {
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  };
}
