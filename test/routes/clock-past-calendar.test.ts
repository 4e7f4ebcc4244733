import t from 'tap';
import { buildTestApp, decisionBody } from '../helpers/build-app.ts';

/**
 * A GATE_NOW clock runs on, and can run past the market calendar (New York dates 2000-2099): what
 * needs the market now is then a 503 naming the cause, not a 500, nor a 400 about a parameter the
 * client never sent. An instant the client gives stays a 400 naming its field.
 */
t.test('the gate clock run past the calendar: 503 clock_outside_calendar naming the cause and GATE_NOW', async (t) => {
  const start = '2099-12-31T23:59:59-05:00';
  const g = await buildTestApp(t, { now: start, env: { GATE_NOW: '2099-12-31T19:00:00-05:00' } });
  const requests = [
    ['GET /v1/status', null, { method: 'GET', url: '/v1/status' }],
    ['GET /v1/market', null, { method: 'GET', url: '/v1/market' }],
    ['POST /v1/decisions', 'caller', { method: 'POST', url: '/v1/decisions', payload: decisionBody() }],
    ['POST /v1/decisions/preview', 'caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody() }],
  ] as const;
  for (const [what, role, req] of requests) t.equal((await g.as(role, req)).statusCode, 200, `${what} at ${start}`);
  const seq = g.audit.head().seq;

  g.clock.set('2100-01-01T00:00:01-05:00');
  for (const [what, role, req] of requests) {
    const res = await g.as(role, req);
    t.equal(res.statusCode, 503, what);
    const body = res.json();
    t.equal(body.error, 'clock_outside_calendar', what);
    t.equal(body.field, undefined, `${what}: names no request field`);
    t.equal(body.retryable, false, `${what}: waiting mends nothing`);
    t.match(body.message, /^The gate clock is outside the market calendar, so the gate decides nothing: .*New York date 2100-01-01.* 2000-2099\. The clock runs from GATE_NOW=2099-12-31T19:00:00-05:00: restart the gate with an earlier GATE_NOW, or without one\.$/, what);
    t.notOk('decision' in body, `${what}: no decision field (Kargo keeps asking)`);
  }
  t.equal(g.audit.head().seq, seq, 'no decision recorded');

  // an instant the client sent is still its own field's 400
  const market = await g.as(null, { method: 'GET', url: '/v1/market?at=2100-01-04T15:00:00Z' });
  t.equal(market.statusCode, 400);
  t.equal(market.json().field, 'querystring.at');
  const preview = await g.as('caller', { method: 'POST', url: '/v1/decisions/preview', payload: decisionBody({ at: '2099-12-31T15:00:00Z' }) });
  t.equal(preview.statusCode, 200, 'a preview at an instant inside the calendar is answered');

  // the scrape still answers, the market gauge not known
  const metrics = await g.as(null, { method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  // prom-client writes "Nan", which Prometheus reads as NaN (case does not matter to it)
  t.match(metrics.body, /^gate_market_open nan$/im);
  t.match(metrics.body, /^gate_clock_simulated 1$/m);
});
