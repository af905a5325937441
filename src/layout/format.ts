import type { DimSummary, NodeSummary, WeightBadge } from '../onnx/summary';

/**
 * A tensor shape as the graph shows it: `1×16×28×28`, symbolic dims by name, `?` when unknown.
 * With `maxDimName`, longer symbolic names are cut (`p2o.DynamicDim…`) to keep edge labels light.
 */
export function formatShape(
  shape: readonly DimSummary[] | null | undefined,
  maxDimName = Infinity,
): string | undefined {
  if (!shape) return undefined;
  if (shape.length === 0) return 'scalar';
  const dim = (d: DimSummary) => {
    if (d === null || d === '') return '?';
    if (typeof d === 'number' || d.length <= maxDimName) return String(d);
    return `${d.slice(0, Math.max(1, maxDimName - 1))}…`;
  };
  return shape.map(dim).join('×');
}

/** ONNX input names of common operators, so a badge reads `W` or `scale` rather than a slot number. */
const inputNames: Record<string, readonly string[]> = {
  Conv: ['X', 'W', 'B'],
  ConvTranspose: ['X', 'W', 'B'],
  ConvInteger: ['x', 'w', 'x_zero_point', 'w_zero_point'],
  QLinearConv: [
    'x',
    'x_scale',
    'x_zero_point',
    'w',
    'w_scale',
    'w_zero_point',
    'y_scale',
    'y_zero_point',
    'B',
  ],
  Gemm: ['A', 'B', 'C'],
  MatMul: ['A', 'B'],
  MatMulInteger: ['A', 'B', 'a_zero_point', 'b_zero_point'],
  QLinearMatMul: ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'],
  BatchNormalization: ['X', 'scale', 'B', 'mean', 'var'],
  InstanceNormalization: ['input', 'scale', 'B'],
  LayerNormalization: ['X', 'scale', 'B'],
  GroupNormalization: ['X', 'scale', 'bias'],
  Add: ['A', 'B'],
  Sub: ['A', 'B'],
  Mul: ['A', 'B'],
  Div: ['A', 'B'],
  Mod: ['A', 'B'],
  Equal: ['A', 'B'],
  Less: ['A', 'B'],
  LessOrEqual: ['A', 'B'],
  Greater: ['A', 'B'],
  GreaterOrEqual: ['A', 'B'],
  And: ['A', 'B'],
  Or: ['A', 'B'],
  Cast: ['input'],
  Transpose: ['data'],
  Split: ['input', 'split'],
  Range: ['start', 'limit', 'delta'],
  ConstantOfShape: ['input'],
  TopK: ['X', 'K'],
  ScatterND: ['data', 'indices', 'updates'],
  GatherElements: ['data', 'indices'],
  GatherND: ['data', 'indices'],
  ReduceMax: ['data', 'axes'],
  ReduceMin: ['data', 'axes'],
  ReduceProd: ['data', 'axes'],
  ReduceL2: ['data', 'axes'],
  Pow: ['X', 'Y'],
  PRelu: ['X', 'slope'],
  Clip: ['input', 'min', 'max'],
  Reshape: ['data', 'shape'],
  Expand: ['input', 'shape'],
  Tile: ['input', 'repeats'],
  Unsqueeze: ['data', 'axes'],
  Squeeze: ['data', 'axes'],
  Slice: ['data', 'starts', 'ends', 'axes', 'steps'],
  Pad: ['data', 'pads', 'constant_value', 'axes'],
  Resize: ['X', 'roi', 'scales', 'sizes'],
  Gather: ['data', 'indices'],
  Where: ['condition', 'X', 'Y'],
  LSTM: ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h', 'initial_c', 'P'],
  GRU: ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h'],
  RNN: ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h'],
  QuantizeLinear: ['x', 'y_scale', 'y_zero_point'],
  DequantizeLinear: ['x', 'x_scale', 'x_zero_point'],
  ReduceMean: ['data', 'axes'],
  ReduceSum: ['data', 'axes'],
};

const shortDtype: Record<string, string> = {
  float: '',
  float16: 'f16',
  bfloat16: 'bf16',
  double: 'f64',
  int8: 'i8',
  uint8: 'u8',
  int16: 'i16',
  uint16: 'u16',
  int32: 'i32',
  uint32: 'u32',
  int64: 'i64',
  uint64: 'u64',
  int4: 'i4',
  uint4: 'u4',
  bool: 'bool',
  string: 'str',
};

/** A weight badge's text, split so the view can style the parts: `W` + `16×1×3×3` (+ `i8`). */
export interface BadgeText {
  label: string;
  shape: string;
  /** Element type when it is not float32 (quantized weights stand out). */
  dtype: string;
  /** The weight comes from a Constant node drawn as this badge instead of a box of its own. */
  constant?: boolean;
}

/** A weight produced by a Constant node (folded into its consumer) rather than stored as an initializer. */
export interface ConstantInput {
  slot: number;
  shape?: readonly DimSummary[];
  dtype?: string;
}

/** At most this many badges per node; the rest are summarised as `+N`. */
export const maxBadges = 6;

function slotLabel(opType: string, slot: number): string {
  return inputNames[opType]?.[slot] ?? `in${slot}`;
}

function dtypeText(dtype: string | undefined): string {
  return dtype === undefined ? '' : (shortDtype[dtype] ?? dtype);
}

export function badgeText(opType: string, w: WeightBadge): BadgeText {
  return { label: slotLabel(opType, w.slot), shape: formatShape(w.shape) ?? '?', dtype: dtypeText(w.dtype) };
}

/**
 * Badge texts of a node in input-slot order: its initializers, and the Constant nodes folded into it.
 * Capped at {@link maxBadges} (the last one then reads `+N more`).
 */
export function nodeBadges(node: NodeSummary, constants: readonly ConstantInput[] = []): BadgeText[] {
  const all = [
    ...node.weights.map((w) => ({ slot: w.slot, badge: badgeText(node.opType, w) })),
    ...constants.map((c) => ({
      slot: c.slot,
      badge: {
        label: slotLabel(node.opType, c.slot),
        shape: formatShape(c.shape) ?? 'const',
        dtype: dtypeText(c.dtype),
        constant: true,
      },
    })),
  ]
    .sort((a, b) => a.slot - b.slot)
    .map((x) => x.badge);
  if (all.length <= maxBadges) return all;
  const shown = all.slice(0, maxBadges - 1);
  shown.push({ label: `+${all.length - shown.length}`, shape: 'more', dtype: '' });
  return shown;
}
