import type { AnyStage } from './types';
import { simplify } from './simplify';
import { foldBatchNorm } from './foldBatchNorm';
import { foldConstants } from './foldConstants';
import { pruneMagnitude } from './pruneMagnitude';
import { pruneChannels } from './pruneChannels';
import { clusterWeights } from './clusterWeights';

/** Every stage the studio, recipes and the CLI know, in palette order. One line per stage. */
export const stages: readonly AnyStage[] = [
  simplify,
  foldConstants,
  foldBatchNorm,
  pruneMagnitude,
  pruneChannels,
  clusterWeights,
];

export function findStage(id: string): AnyStage | undefined {
  return stages.find((s) => s.id === id);
}
