import type { OpCategory } from '../../onnx/summary';

/**
 * Header colours of operator nodes by category, Netron-like muted tones. Every colour keeps white
 * text above a 4.5:1 contrast ratio (WCAG AA); hues differ enough to tell conv, linear, activation,
 * normalization and quantize nodes apart at a glance.
 */
export const categoryColor: Record<OpCategory, string> = {
  conv: '#2f5f98',
  linear: '#4b3f9a',
  activation: '#a23b2c',
  normalization: '#22706b',
  pool: '#3d6d2e',
  elementwise: '#5c6773',
  shape: '#735241',
  quantize: '#a04e00',
  recurrent: '#86306f',
  control: '#30353c',
  constant: '#646b3c',
  io: '#4f5965',
  other: '#555b66',
};

/** Human names of the categories, for tooltips and the legend. */
export const categoryTitle: Record<OpCategory, string> = {
  conv: 'Convolution',
  linear: 'Linear / MatMul',
  activation: 'Activation',
  normalization: 'Normalization',
  pool: 'Pooling / reduction',
  elementwise: 'Element-wise',
  shape: 'Shape / data movement',
  quantize: 'Quantization',
  recurrent: 'Recurrent',
  control: 'Control flow',
  constant: 'Constant',
  io: 'Graph input / output',
  other: 'Other',
};
