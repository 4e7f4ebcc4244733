/** The five stages of the Stonks Oracle pipeline, in promotion order. */
export const STAGES = ['ci', 'integration', 'beta', 'paper', 'live'] as const;
export type Stage = (typeof STAGES)[number];

export function isStage(value: string): value is Stage {
  return (STAGES as readonly string[]).includes(value);
}
