import type { AnyStage } from './types';
import { simplify } from './simplify';
import { foldBatchNorm } from './foldBatchNorm';
import { foldConstants } from './foldConstants';
import { pruneMagnitude } from './pruneMagnitude';
import { pruneChannels } from './pruneChannels';
import { clusterWeights } from './clusterWeights';
import { quantizeStatic } from './quantizeStatic';
import { quantizeDynamic } from './quantizeDynamic';
import { convertFp16 } from './convertFp16';
import { quantizeInt4 } from './quantizeInt4';
import { editGraph } from './editGraph';
import { fineTune } from './fineTune';
import { distill } from './distill';
import { quantizeAware } from './quantizeAware';

/** Every stage the studio, recipes and the CLI know, in palette order. One line per stage. */
export const stages: readonly AnyStage[] = [
  simplify,
  foldConstants,
  foldBatchNorm,
  pruneMagnitude,
  pruneChannels,
  quantizeStatic,
  quantizeDynamic,
  convertFp16,
  quantizeInt4,
  clusterWeights,
  distill,
  fineTune,
  quantizeAware,
  editGraph,
];

export function findStage(id: string): AnyStage | undefined {
  return stages.find((s) => s.id === id);
}
