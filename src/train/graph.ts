import * as tf from '@tensorflow/tfjs';
import { DataType } from '../onnx/dtype';
import type { Graph, Model, Node } from '../onnx/ir';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import { makeTensor, tensorArray, tensorDims } from '../onnx/tensor';
import { OP_TRANSLATIONS, TranslationError } from './ops';
import { asTensor, hostValue, isFloatType, tensorValue, type Value } from './values';

let graphCount = 0;

/** The model holds operators the engine cannot translate; the message lists them. */
export class UnsupportedOperatorsError extends Error {
  constructor(readonly operators: { opType: string; count: number; first: string }[]) {
    super(
      `Training does not support ${operators.length === 1 ? 'this operator' : 'these operators'}: ` +
        operators.map((o) => `${o.opType} ×${o.count} (e.g. "${o.first}")`).join(', ') +
        '. Supported: ' +
        Object.keys(OP_TRANSLATIONS).concat('Constant').sort().join(', ') +
        '.',
    );
    this.name = 'UnsupportedOperatorsError';
  }
}

/** Whether the engine translates this node (default-domain operators it knows, and Constant). */
export function translatable(n: Node): boolean {
  const defaultDomain = !n.domain || n.domain === 'ai.onnx';
  return defaultDomain && (n.opType === 'Constant' || OP_TRANSLATIONS[n.opType] !== undefined);
}

/** Operators of the main graph the engine cannot translate (empty when the whole model trains). */
export function unsupportedOperators(graph: Graph): { opType: string; count: number; first: string }[] {
  const found = new Map<string, { opType: string; count: number; first: string }>();
  for (const n of graph.nodes) {
    if (translatable(n)) continue;
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    const entry = found.get(key) ?? { opType: key, count: 0, first: n.name || n.outputs[0] };
    entry.count++;
    found.set(key, entry);
  }
  return [...found.values()];
}

/** Where a constant is read as a layer's weight: QAT fake-quantizes these. */
export interface WeightUse {
  node: Node;
  input: number;
}

/** Transformations applied during the forward pass (fake quantization for QAT). */
export interface ForwardHooks {
  /** Called with each weight (Conv/ConvTranspose/Gemm/MatMul constant operand) as a layer reads it. */
  weight?(name: string, t: tf.Tensor, use: WeightUse): tf.Tensor;
  /** Called with each float tensor a node produces, by ONNX tensor name; must keep the shape. */
  activation?(name: string, t: tf.Tensor): tf.Tensor;
}

export interface ForwardOptions {
  training: boolean;
  hooks?: ForwardHooks;
  /** Tensors to return besides the graph outputs (e.g. for distillation of features). */
  extraOutputs?: string[];
}

interface BatchStat {
  node: Node;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

const WEIGHT_INPUTS: Record<string, number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [0, 1, 2],
  MatMul: [0, 1],
  BatchNormalization: [1, 2],
  LayerNormalization: [1, 2],
  PRelu: [1],
};
/** Constants that shift or scale a computed tensor (biases after MatMul, learned scales). */
const AFFINE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div']);
/** Inputs that are layer weights a QAT hook may see. */
const QUANTIZED_WEIGHT_INPUTS: Record<string, number[]> = {
  Conv: [1],
  ConvTranspose: [1],
  Gemm: [1],
  MatMul: [0, 1],
};

/**
 * An ONNX graph translated into TensorFlow.js operations, with the model's float weights as tfjs
 * variables. `forward` runs it (in training or inference mode) under tfjs autodiff; `writeBack`
 * returns the model with the trained weights as ordinary initializers.
 */
export class TrainableGraph {
  /** Trainable weights by ONNX tensor name, in ONNX layout. */
  readonly variables = new Map<string, tf.Variable>();
  /** BatchNormalization running statistics, updated from batch statistics after each step. */
  readonly runningStats = new Map<string, tf.Variable>();
  private readonly constants = new Map<string, Value>();
  private readonly order: Node[];
  private readonly opset: number;
  private pendingStats: BatchStat[] = [];
  private readonly id = ++graphCount;

  private constructor(
    private readonly model: Model,
    trainable: (name: string) => boolean,
  ) {
    const graph = model.graph;
    const missing = unsupportedOperators(graph);
    if (missing.length) throw new UnsupportedOperatorsError(missing);
    this.opset = model.opsetVersion('') ?? 13;
    this.order = graph.topologicalOrder().filter((n) => n.opType !== 'Constant');
    const weightNames = this.weightNames(graph);
    const statNames = new Set<string>();
    for (const n of graph.nodes)
      if (n.opType === 'BatchNormalization')
        for (const i of [3, 4]) if (n.inputs[i]) statNames.add(n.inputs[i]);
    for (const [name, t] of this.constantTensors(graph)) {
      const values = tensorArray(t, model.external);
      const dims = tensorDims(t);
      if (!isFloatType(t.dataType)) {
        this.constants.set(
          name,
          hostValue(Array.from(values as ArrayLike<number | bigint>, Number), dims, t.dataType),
        );
        continue;
      }
      const floats =
        t.dataType === DataType.FLOAT
          ? (values as Float32Array)
          : Float32Array.from(values as ArrayLike<number>);
      const tensor = tf.tensor(floats, dims, 'float32');
      const isFloat32 = t.dataType === DataType.FLOAT;
      if (isFloat32 && statNames.has(name))
        this.runningStats.set(name, tf.variable(tensor, false, `stat:${name}#${this.id}`));
      else if (isFloat32 && weightNames.has(name) && trainable(name))
        this.variables.set(name, tf.variable(tensor, true, `w:${name}#${this.id}`));
      else {
        this.constants.set(name, tensorValue(tf.keep(tensor)));
        continue;
      }
      tensor.dispose();
    }
  }

  /** Translate a model. Throws UnsupportedOperatorsError listing operators it cannot train. */
  static build(model: Model, options: { trainable?: (name: string) => boolean } = {}): TrainableGraph {
    return new TrainableGraph(model, options.trainable ?? (() => true));
  }

  get inputNames(): string[] {
    return this.model.graph.feedInputs().map((v) => v.name);
  }
  get outputNames(): string[] {
    return this.model.graph.outputs.map((v) => v.name);
  }
  /** Number of trainable scalars. */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  /**
   * Run the graph. Feeds are in ONNX layout. In training mode BatchNormalization normalises with
   * batch statistics, which {@link commitBatchStats} then folds into the running averages.
   */
  forward(feeds: Record<string, tf.Tensor>, options: ForwardOptions): Record<string, tf.Tensor> {
    const env = new Map<string, Value>();
    for (const [name, t] of Object.entries(feeds)) env.set(name, tensorValue(t));
    const hooks = options.hooks;
    const read = (name: string, use?: WeightUse): Value | undefined => {
      if (!name) return undefined;
      const computed = env.get(name);
      if (computed) return computed;
      const variable = this.variables.get(name) ?? this.runningStats.get(name);
      const value = variable ? tensorValue(variable) : this.constants.get(name);
      if (!value) throw new Error(`tensor "${name}" has no value (it is neither fed nor computed)`);
      if (use && hooks?.weight && value.kind === 'tensor')
        return tensorValue(hooks.weight(name, value.t, use));
      return value;
    };
    for (const node of this.order) {
      const quantized = QUANTIZED_WEIGHT_INPUTS[node.opType];
      const inputs = node.inputs.map((name, i) =>
        read(name, quantized?.includes(i) && !env.has(name) ? { node, input: i } : undefined),
      );
      let outputs: Value[];
      try {
        outputs = OP_TRANSLATIONS[node.opType]({
          node,
          opset: this.opset,
          training: options.training,
          inputs,
          onBatchStats: (n, mean, variance) =>
            this.pendingStats.push({ node: n, mean: tf.keep(mean), variance: tf.keep(variance) }),
        });
      } catch (e) {
        if (e instanceof TranslationError) throw e;
        throw new TranslationError(node, e instanceof Error ? e.message : String(e));
      }
      node.outputs.forEach((name, i) => {
        const v = outputs[i];
        if (!name || !v) return;
        if (hooks?.activation && v.kind === 'tensor' && v.t.dtype === 'float32')
          env.set(name, { ...v, t: hooks.activation(name, v.t) });
        else env.set(name, v);
      });
    }
    const result: Record<string, tf.Tensor> = {};
    for (const name of [...this.outputNames, ...(options.extraOutputs ?? [])]) {
      const v = read(name);
      if (v) result[name] = asTensor(v);
    }
    return result;
  }

  /** Fold the batch statistics of the last training-mode forward passes into the running averages. */
  commitBatchStats(): void {
    const stats = this.pendingStats;
    this.pendingStats = [];
    tf.tidy(() => {
      for (const s of stats) {
        const momentum = s.node.attrFloat('momentum', 0.9);
        const update = (name: string, batch: tf.Tensor) => {
          const v = this.runningStats.get(name);
          if (v) v.assign(tf.add(tf.mul(v, momentum), tf.mul(batch, 1 - momentum)));
        };
        update(s.node.inputs[3], s.mean);
        update(s.node.inputs[4], s.variance);
      }
    });
    for (const s of stats) tf.dispose([s.mean, s.variance]);
  }

  /** Drop batch statistics collected by forward passes that should not update the averages. */
  discardBatchStats(): void {
    for (const s of this.pendingStats) tf.dispose([s.mean, s.variance]);
    this.pendingStats = [];
  }

  /** Current weights (and running statistics) as plain arrays, e.g. for checkpoints. */
  snapshot(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of [...this.variables, ...this.runningStats])
      out.set(name, v.dataSync() as Float32Array);
    return out;
  }

  /** Restore weights saved by {@link snapshot}. */
  restore(weights: ReadonlyMap<string, Float32Array>): void {
    tf.tidy(() => {
      for (const [name, v] of [...this.variables, ...this.runningStats]) {
        const w = weights.get(name);
        if (w && w.length === v.size) v.assign(tf.tensor(w, v.shape, 'float32'));
      }
    });
  }

  /**
   * The model with the current weights written in as float32 initializers (weights that were
   * Constant nodes become initializers). The input model is left unchanged.
   */
  writeBack(): Model {
    const model = this.model.clone();
    const graph = model.graph;
    for (const [name, values] of this.snapshot()) {
      const variable = this.variables.get(name) ?? this.runningStats.get(name)!;
      const tensor = makeTensor(name, DataType.FLOAT, variable.shape, values);
      const producer = graph.producer(name);
      if (producer?.opType === 'Constant') graph.removeNode(producer);
      graph.addInitializer(tensor);
    }
    return model;
  }

  dispose(): void {
    this.discardBatchStats();
    for (const v of [...this.variables.values(), ...this.runningStats.values()]) v.dispose();
    for (const c of this.constants.values()) if (c.kind === 'tensor') c.t.dispose();
    this.variables.clear();
    this.runningStats.clear();
    this.constants.clear();
  }

  private constantTensors(graph: Graph): [string, TensorProto][] {
    const out: [string, TensorProto][] = [...graph.initializers];
    for (const n of graph.nodes) {
      if (n.opType !== 'Constant') continue;
      const attr = n.attribute('value');
      if (attr?.t) out.push([n.outputs[0], attr.t]);
      else {
        const f = n.attribute('value_float');
        const fs = n.attribute('value_floats');
        const i = n.attribute('value_int');
        const is = n.attribute('value_ints');
        if (f) out.push([n.outputs[0], makeTensor(n.outputs[0], DataType.FLOAT, [], [f.f])]);
        else if (fs)
          out.push([n.outputs[0], makeTensor(n.outputs[0], DataType.FLOAT, [fs.floats.length], fs.floats)]);
        else if (i) out.push([n.outputs[0], makeTensor(n.outputs[0], DataType.INT64, [], [Number(i.i)])]);
        else if (is)
          out.push([
            n.outputs[0],
            makeTensor(n.outputs[0], DataType.INT64, [is.ints.length], is.ints.map(Number)),
          ]);
        else throw new TranslationError(n, 'only tensor, float(s) and int(s) constants are supported');
      }
    }
    return out;
  }

  /** Constants read as layer weights, biases and learned scales: the default trainable set. */
  private weightNames(graph: Graph): Set<string> {
    const names = new Set<string>();
    const isConstant = (name: string) =>
      graph.initializers.has(name) || graph.producer(name)?.opType === 'Constant';
    for (const n of graph.nodes) {
      const slots = WEIGHT_INPUTS[n.opType];
      if (slots) for (const i of slots) if (n.inputs[i] && isConstant(n.inputs[i])) names.add(n.inputs[i]);
      if (AFFINE_OPS.has(n.opType)) {
        const constantInputs = n.inputs.filter(isConstant);
        // A constant combined with a computed tensor, with more than one element: a bias or a scale.
        if (constantInputs.length === 1 && n.inputs.length === 2) {
          const t =
            graph.initializers.get(constantInputs[0]) ??
            graph.producer(constantInputs[0])?.attribute('value')?.t;
          if (t && tensorDims(t).reduce((p, d) => p * d, 1) > 1) names.add(constantInputs[0]);
        }
      }
    }
    return names;
  }
}
