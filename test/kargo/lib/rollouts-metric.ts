/** A measurement phase of an Argo Rollouts metric. */
export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** The limits of a metric (AnalysisTemplate spec.metrics[]). */
export interface MetricLimits {
  count?: number;
  failureLimit?: number;
  inconclusiveLimit?: number;
  consecutiveErrorLimit?: number;
}

/** Where a metric stands after a sequence of measurements. */
export interface MetricAssessment {
  phase: 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
  /** How many measurements were taken before the metric completed (all of them if Running). */
  taken: number;
  message: string;
}

/**
 * Replays measurements through Argo Rollouts' metric assessment (analysis/analysis.go
 * assessMetricStatus / assessMetricFailureInconclusiveOrError, v1.9; consecutiveSuccessLimit
 * is not used by our templates and not modelled):
 *  - Successful, Failed and Inconclusive measurements count toward `count`; Error ones do not
 *    (they are retried after 10s) and only grow the consecutive-error counter;
 *  - after each measurement: failed > failureLimit -> Failed; inconclusive > inconclusiveLimit
 *    -> Inconclusive; consecutive errors > consecutiveErrorLimit (default 4) -> Error (checked
 *    in that order, the last match wins);
 *  - otherwise the metric is Successful once `count` measurements are counted, else Running.
 */
export function assessMetric(limits: MetricLimits, phases: MeasurementPhase[]): MetricAssessment {
  const failureLimit = limits.failureLimit ?? 0;
  const inconclusiveLimit = limits.inconclusiveLimit ?? 0;
  const consecutiveErrorLimit = limits.consecutiveErrorLimit ?? 4;
  const count = limits.count ?? 1;
  let failed = 0;
  let inconclusive = 0;
  let consecutiveErrors = 0;
  let counted = 0;
  for (const [i, p] of phases.entries()) {
    if (p === 'Error') consecutiveErrors++;
    else {
      consecutiveErrors = 0;
      counted++;
      if (p === 'Failed') failed++;
      if (p === 'Inconclusive') inconclusive++;
    }
    let phase: MetricAssessment['phase'] | undefined;
    let message = '';
    if (failureLimit >= 0 && failed > failureLimit) [phase, message] = ['Failed', `failed (${failed}) > failureLimit (${failureLimit})`];
    if (inconclusiveLimit >= 0 && inconclusive > inconclusiveLimit) [phase, message] = ['Inconclusive', `inconclusive (${inconclusive}) > inconclusiveLimit (${inconclusiveLimit})`];
    if (consecutiveErrors > consecutiveErrorLimit) [phase, message] = ['Error', `consecutiveErrors (${consecutiveErrors}) > consecutiveErrorLimit (${consecutiveErrorLimit})`];
    if (phase) return { phase, taken: i + 1, message };
    if (counted >= count) return { phase: 'Successful', taken: i + 1, message: `count (${count}) reached` };
  }
  return { phase: 'Running', taken: phases.length, message: 'more measurements to take' };
}
