import type { AnyStage } from './types';
import { simplify } from './simplify';
import { foldBatchNorm } from './foldBatchNorm';

/** Every stage the studio, recipes and the CLI know, in palette order. One line per stage. */
export const stages: readonly AnyStage[] = [simplify, foldBatchNorm];

export function findStage(id: string): AnyStage | undefined {
  return stages.find((s) => s.id === id);
}
