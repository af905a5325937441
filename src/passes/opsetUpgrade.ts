import type { Graph, Model, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { makeTensor } from '../onnx/tensor';
import type { ValueFacts } from '../onnx/shapes';

/** What is known about a node's first input when deciding how to rewrite it. */
interface InputFacts {
  rank?: number;
  elemType?: number;
}

/**
 * An operator whose signature or meaning changed at opset `at`. `applies` says whether a node is
 * affected (e.g. only when it still uses the old attribute); `rewrite`, when present, turns the node
 * into its new form with the same results, and returns false when it cannot for this node.
 */
interface OpsetChange {
  op: string;
  at: number;
  why: string;
  applies?: (n: Node, input: InputFacts) => boolean;
  rewrite?: (graph: Graph, n: Node, input: InputFacts, dryRun: boolean) => boolean;
}

/** An int64 initializer; attribute values stay bigints (Slice ends are often INT64_MAX). */
function int64s(graph: Graph, base: string, values: readonly (bigint | number)[]): string {
  const name = graph.uniqueName(base);
  graph.addInitializer(makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values, BigInt)));
  return name;
}

function floatScalar(graph: Graph, base: string, value: number): string {
  const name = graph.uniqueName(base);
  graph.addInitializer(makeTensor(name, DataType.FLOAT, [], Float32Array.of(value)));
  return name;
}

function dropAttributes(n: Node, names: readonly string[]): void {
  n.proto.attribute = n.proto.attribute.filter((a) => !names.includes(a.name));
}

function setInputs(graph: Graph, n: Node, inputs: string[]): void {
  while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
  n.proto.input = inputs;
  graph.invalidate();
}

/** An attribute that moved into an input (int64 list): axes, split, pads, starts/ends, k. */
function attributesToInputs(names: readonly string[], required: readonly string[] = names) {
  return (graph: Graph, n: Node, _input: InputFacts, dryRun: boolean) => {
    if (required.some((a) => !n.attribute(a))) return false;
    if (dryRun) return true;
    const base = n.name || n.outputs[0];
    const inputs = [n.inputs[0]];
    for (const a of names) {
      const values = n.attribute(a)?.ints;
      inputs.push(values ? int64s(graph, `${base}_${a}`, values) : '');
    }
    dropAttributes(n, names);
    setInputs(graph, n, inputs);
    return true;
  };
}

/**
 * Softmax, LogSoftmax and Hardmax before opset 13 flattened the input to 2-D at `axis`; the same
 * result now is Flatten(axis) → op(axis = 1) → Reshape back to the input's shape.
 */
function rewriteCoercedSoftmax(graph: Graph, n: Node, input: InputFacts, dryRun: boolean): boolean {
  let axis = n.attrInt('axis', 1);
  if (axis < 0) {
    if (input.rank === undefined) return false;
    axis += input.rank;
  }
  if (dryRun) return true;
  const base = n.name || n.outputs[0];
  const x = n.inputs[0];
  const flat = graph.uniqueName(`${base}_2d`);
  graph.addNode(
    {
      opType: 'Flatten',
      name: graph.uniqueName(`${base}_Flatten`),
      inputs: [x],
      outputs: [flat],
      attributes: [makeAttr('axis', axis)],
    },
    { before: n },
  );
  const shape = graph.uniqueName(`${base}_shape`);
  graph.addNode(
    { opType: 'Shape', name: graph.uniqueName(`${base}_Shape`), inputs: [x], outputs: [shape] },
    { before: n },
  );
  const y = n.outputs[0];
  const normalized = graph.uniqueName(`${base}_2d_out`);
  n.setInput(0, flat);
  n.setOutput(0, normalized);
  n.setAttribute(makeAttr('axis', 1));
  graph.addNode(
    {
      opType: 'Reshape',
      name: graph.uniqueName(`${base}_Reshape`),
      inputs: [normalized, shape],
      outputs: [y],
    },
    { after: n },
  );
  return true;
}

const coercedAxis = (n: Node, input: InputFacts) => {
  const axis = n.attrInt('axis', 1);
  return input.rank === undefined || (axis !== -1 && axis !== input.rank - 1);
};

const OPSET_CHANGES: OpsetChange[] = [
  {
    op: 'BatchNormalization',
    at: 9,
    why: 'lost its spatial attribute',
    applies: (n) => !!n.attribute('spatial'),
    rewrite: (_g, n, _i, dryRun) => {
      if (n.attrInt('spatial', 1) !== 1) return false;
      if (!dryRun) dropAttributes(n, ['spatial']);
      return true;
    },
  },
  { op: 'Scan', at: 9, why: 'changed its inputs' },
  { op: 'Upsample', at: 10, why: 'is deprecated' },
  {
    op: 'Slice',
    at: 10,
    why: 'takes starts/ends as inputs',
    rewrite: attributesToInputs(['starts', 'ends', 'axes'], ['starts', 'ends']),
  },
  {
    op: 'TopK',
    at: 10,
    why: 'takes k as an input',
    rewrite: (g, n, _i, d) => {
      const k = n.attribute('k');
      if (!k) return false;
      if (d) return true;
      const name = int64s(g, `${n.name || n.outputs[0]}_k`, [Number(k.i)]);
      dropAttributes(n, ['k']);
      setInputs(g, n, [n.inputs[0], name]);
      return true;
    },
  },
  { op: 'Resize', at: 11, why: 'changed its inputs' },
  {
    op: 'Pad',
    at: 11,
    why: 'takes pads as an input',
    rewrite: (g, n, input, dryRun) => {
      const pads = n.attribute('pads')?.ints;
      const value = n.attrFloat('value', 0);
      if (!pads || (value !== 0 && input.elemType !== DataType.FLOAT)) return false;
      if (dryRun) return true;
      const base = n.name || n.outputs[0];
      const inputs = [n.inputs[0], int64s(g, `${base}_pads`, pads)];
      if (value !== 0) inputs.push(floatScalar(g, `${base}_value`, value));
      dropAttributes(n, ['pads', 'value']);
      setInputs(g, n, inputs);
      return true;
    },
  },
  {
    op: 'Clip',
    at: 11,
    why: 'takes min/max as inputs',
    applies: (n) => !!n.attribute('min') || !!n.attribute('max'),
    rewrite: (g, n, input, dryRun) => {
      if (input.elemType !== DataType.FLOAT) return false;
      if (dryRun) return true;
      const base = n.name || n.outputs[0];
      const bound = (a: string) => (n.attribute(a) ? floatScalar(g, `${base}_${a}`, n.attrFloat(a, 0)) : '');
      const inputs = [n.inputs[0], bound('min'), bound('max')];
      dropAttributes(n, ['min', 'max']);
      setInputs(g, n, inputs);
      return true;
    },
  },
  {
    op: 'Scatter',
    at: 11,
    why: 'is deprecated',
    rewrite: (_g, n, _i, dryRun) => {
      // ScatterElements has exactly Scatter's semantics under its new name.
      if (!dryRun) n.proto.opType = 'ScatterElements';
      return true;
    },
  },
  {
    op: 'Dropout',
    at: 12,
    why: 'takes ratio as an input',
    applies: (n) => !!n.attribute('ratio'),
    rewrite: (_g, n, _i, dryRun) => {
      // The ratio only matters in training; inference ignores it.
      if (!dryRun) dropAttributes(n, ['ratio']);
      return true;
    },
  },
  {
    op: 'Split',
    at: 13,
    why: 'takes split as an input',
    applies: (n) => !!n.attribute('split'),
    rewrite: attributesToInputs(['split']),
  },
  {
    op: 'Squeeze',
    at: 13,
    why: 'takes axes as an input',
    applies: (n) => !!n.attribute('axes'),
    rewrite: attributesToInputs(['axes']),
  },
  { op: 'Unsqueeze', at: 13, why: 'takes axes as an input', rewrite: attributesToInputs(['axes']) },
  {
    op: 'ReduceSum',
    at: 13,
    why: 'takes axes as an input',
    applies: (n) => !!n.attribute('axes'),
    rewrite: attributesToInputs(['axes']),
  },
  ...['Softmax', 'LogSoftmax', 'Hardmax'].map((op) => ({
    op,
    at: 13,
    why: 'changed meaning (normalizes over one axis instead of a flattened 2-D view)',
    applies: coercedAxis,
    rewrite: rewriteCoercedSoftmax,
  })),
];

/** One node that must change to move the model to a newer opset. */
interface PendingChange {
  graph: Graph;
  node: Node;
  change: OpsetChange;
  input: InputFacts;
}

function pendingChanges(model: Model, target: number, facts?: Map<string, ValueFacts>): PendingChange[] {
  const from = model.opsetVersion('') ?? target;
  const pending: PendingChange[] = [];
  for (const graph of model.graph.allGraphs())
    for (const node of graph.nodes) {
      if (node.domain !== '') continue;
      for (const change of OPSET_CHANGES) {
        if (change.op !== node.opType || change.at <= from || change.at > target) continue;
        const f = graph === model.graph ? facts?.get(node.inputs[0]) : undefined;
        const input = { rank: f?.shape?.length, elemType: f?.elemType };
        if (change.applies && !change.applies(node, input)) continue;
        pending.push({ graph, node, change, input });
      }
    }
  return pending;
}

/**
 * Operators that keep the model from moving to opset `target` because Whittle cannot rewrite them
 * (one line per operator type), or [] when it can move.
 */
export function opsetUpgradeBlockers(
  model: Model,
  target: number,
  facts?: Map<string, ValueFacts>,
): string[] {
  const found = new Map<string, string>();
  for (const p of pendingChanges(model, target, facts))
    if (!p.change.rewrite?.(p.graph, p.node, p.input, true))
      found.set(p.change.op, `${p.change.op} (${p.change.why} in opset ${p.change.at})`);
  return [...found.values()];
}

/** What {@link raiseOpset} did. */
export interface OpsetUpgrade {
  from: number;
  to: number;
  /** Nodes rewritten to their newer form, counted by operator type. */
  rewritten: Map<string, number>;
}

/**
 * Raise the model's default-domain opset import to at least `target`, rewriting the operators whose
 * form changed in between (Slice, Clip, Squeeze/Unsqueeze, Split, Pad, ReduceSum, TopK, Dropout,
 * the 2-D Softmax family, …) so that every output stays the same. Throws, changing nothing, naming
 * the operators it cannot rewrite (Upsample, Resize, Scan…).
 */
export function raiseOpset(
  model: Model,
  target: number,
  reason: string,
  facts?: Map<string, ValueFacts>,
): OpsetUpgrade {
  const from = model.opsetVersion('') ?? 0;
  const rewritten = new Map<string, number>();
  if (from >= target) return { from, to: from, rewritten };
  const blockers = opsetUpgradeBlockers(model, target, facts);
  if (blockers.length)
    throw new Error(
      `${reason} needs opset ${target}, but the model uses opset ${from} and these operators changed since: ${blockers.join('; ')}. Convert the model to opset ${target} first.`,
    );
  for (const p of pendingChanges(model, target, facts)) {
    p.change.rewrite!(p.graph, p.node, p.input, false);
    rewritten.set(p.change.op, (rewritten.get(p.change.op) ?? 0) + 1);
  }
  const entry = model.proto.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (entry) entry.version = BigInt(target);
  else model.proto.opsetImport.push({ ...model.proto.opsetImport[0], domain: '', version: BigInt(target) });
  // IR 7 goes with opset 13; older IRs list weights as graph inputs, which IR ≥ 4 would treat as overridable.
  if (model.proto.irVersion < 7n) {
    if (model.proto.irVersion < 4n)
      model.graph.inputs = model.graph.inputs.filter((v) => !model.graph.initializers.has(v.name));
    model.proto.irVersion = 7n;
  }
  model.graph.invalidate();
  return { from, to: target, rewritten };
}

/** "raised the default opset from 9 to 13 (rewrote 2 Clip, 1 Slice)" for a stage's notes. */
export function opsetNote(upgrade: OpsetUpgrade): string[] {
  if (upgrade.to <= upgrade.from) return [];
  const what = [...upgrade.rewritten].map(([op, k]) => `${k} ${op}`).join(', ');
  return [
    `raised the default opset from ${upgrade.from} to ${upgrade.to} (${what ? `rewrote ${what} to the new form` : 'no operator changed meaning'})`,
  ];
}
