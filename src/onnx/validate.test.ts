import { spawnSync } from 'node:child_process';
import { create } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, makeAttr, valueInfo } from './builder';
import { DataType } from './dtype';
import { type Graph, Model } from './ir';
import { GraphProtoSchema, NodeProtoSchema } from './proto/onnx_pb';
import { hasPythonOnnx } from './testing/digest';
import { ModelValidationError, ORT_MAX_OPSET, ORT_MIN_OPSET, checkModel, validateModel } from './validate';
import { runOrtNode } from '../test/fixtures';

const errors = (m: Model) => validateModel(m).filter((i) => i.severity === 'error');

function relu(): GraphBuilder {
  const b = new GraphBuilder('relu');
  b.input('x', DataType.FLOAT, [2]);
  b.node('Relu', ['x'], {}, { outputs: ['y'], name: 'relu' });
  b.output('y', DataType.FLOAT, [2]);
  return b;
}

describe('validateModel: models that cannot run', () => {
  it('names the node and the tensor it reads when that tensor does not exist', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [2]);
    b.node('Add', ['x', 'ghost'], {}, { outputs: ['y'], name: 'add_ghost' });
    b.output('y', DataType.FLOAT, [2]);
    const m = b.model();
    expect(errors(m)).toEqual([
      {
        severity: 'error',
        graph: 'main',
        node: 'add_ghost',
        tensor: 'ghost',
        message: 'Node "add_ghost" (Add) reads tensor "ghost", which no node, input or initializer provides.',
      },
    ]);
    expect(() => checkModel(m)).toThrow(ModelValidationError);
    expect(() => checkModel(m)).toThrow('Node "add_ghost" (Add) reads tensor "ghost"');
  });

  it('finds a cycle and names the nodes on it', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    b.node('Add', ['x', 'c'], {}, { outputs: ['a'], name: 'n1' });
    b.node('Relu', ['a'], {}, { outputs: ['c'], name: 'n2' });
    b.node('Neg', ['x'], {}, { outputs: ['y'], name: 'fine' });
    b.output('y', DataType.FLOAT, [1]);
    expect(errors(b.model()).map((i) => i.message)).toEqual([
      'The graph has a cycle through 2 node(s): n1, n2.',
    ]);
  });

  it('finds a tensor produced twice', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    b.node('Relu', ['x'], {}, { outputs: ['y'], name: 'first' });
    b.node('Neg', ['x'], {}, { outputs: ['y'], name: 'second' });
    b.output('y', DataType.FLOAT, [1]);
    expect(errors(b.model())).toMatchObject([
      {
        node: 'second',
        tensor: 'y',
        message: 'Tensor "y" is produced by more than one node (again by Node "second" (Neg)).',
      },
    ]);
  });

  it('finds a graph output that nothing produces', () => {
    const b = relu();
    b.output('nowhere', DataType.FLOAT, [2]);
    expect(errors(b.model())).toMatchObject([
      { tensor: 'nowhere', message: 'Graph output "nowhere" is not produced by any node.' },
    ]);
  });

  it('refuses opsets newer than onnxruntime runs, warns about very old ones', () => {
    const at = (opset: number) => validateModel(relu().model({ opset, irVersion: opset > 21 ? 11 : 8 }));
    expect(at(27)).toEqual([
      {
        severity: 'error',
        graph: 'main',
        message: 'The model uses ONNX opset 27; onnxruntime-web 1.30 runs opsets 7–26.',
      },
    ]);
    expect(at(5)).toEqual([
      {
        severity: 'warning',
        graph: 'main',
        message: 'The model uses ONNX opset 5; onnxruntime only guarantees opsets 7 and above.',
      },
    ]);
    expect(at(ORT_MAX_OPSET)).toEqual([]);
    expect(at(ORT_MIN_OPSET)).toEqual([]);
    expect(checkModel(relu().model({ opset: 5 }))).toHaveLength(1);
  });

  it('agrees with onnxruntime-node on the newest opset it loads', async () => {
    const load = async (opset: number) => {
      try {
        const s = await ort.InferenceSession.create(relu().bytes({ opset, irVersion: 11 }), {
          logSeverityLevel: 4,
        });
        await s.release();
        return 'loads';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(await load(ORT_MAX_OPSET)).toBe('loads');
    expect(await load(ORT_MAX_OPSET + 1)).toMatch(/opset/i);
  });

  it('reports a missing ai.onnx opset, a node without operator, and sums up many problems', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    for (let i = 0; i < 5; i++)
      b.node('Add', ['x', `missing${i}`], {}, { outputs: [`o${i}`], name: `n${i}` });
    b.node('', ['x'], {}, { outputs: ['z'], name: 'blank' });
    b.output('o0', DataType.FLOAT, [1]);
    const m = b.model();
    m.proto.opsetImport = [{ ...m.proto.opsetImport[0], domain: 'com.example' }];
    const messages = errors(m).map((i) => i.message);
    expect(messages[0]).toBe('The model uses ONNX operators but imports no ai.onnx opset.');
    expect(messages).toContain('A node (blank) has no operator type.');
    expect(() => checkModel(m)).toThrow(/\(and 4 more problems\)$/);
  });
});

/** main: x → MatMul → Add → Identity → Relu → If(c){then: r*k, else: r-h} → Identity → y; h → Sigmoid → z; h → Tanh (dead). */
function branchyModel(): Model {
  const b = new GraphBuilder('branchy');
  b.input('x', DataType.FLOAT, [2, 4]);
  b.input('c', DataType.BOOL, []);
  b.initializer(
    'w',
    DataType.FLOAT,
    [4, 4],
    Float32Array.from({ length: 16 }, (_, i) => ((i * 7) % 5) / 4 - 0.5),
  );
  b.initializer('bias', DataType.FLOAT, [4], [0.1, -0.2, 0.3, -0.4]);
  // Read only inside the then-branch: dead-code removal must keep it.
  b.initializer('k', DataType.FLOAT, [4], [2, -1, 0.5, 3]);
  b.initializer('unused', DataType.FLOAT, [1], [42]);
  b.node('MatMul', ['x', 'w'], {}, { outputs: ['mm'], name: 'matmul' });
  b.node('Add', ['mm', 'bias'], {}, { outputs: ['h'], name: 'add' });
  b.node('Identity', ['h'], {}, { outputs: ['h_id'], name: 'identity' });
  b.node('Relu', ['h_id'], {}, { outputs: ['r'], name: 'relu' });
  const thenBranch = create(GraphProtoSchema, {
    name: 'then',
    node: [create(NodeProtoSchema, { opType: 'Mul', name: 'then_mul', input: ['r', 'k'], output: ['t'] })],
    output: [valueInfo('t', DataType.FLOAT, [2, 4])],
  });
  const elseBranch = create(GraphProtoSchema, {
    name: 'else',
    node: [create(NodeProtoSchema, { opType: 'Sub', name: 'else_sub', input: ['r', 'h'], output: ['e'] })],
    output: [valueInfo('e', DataType.FLOAT, [2, 4])],
  });
  b.node(
    'If',
    ['c'],
    { then_branch: thenBranch, else_branch: elseBranch },
    { outputs: ['if_out'], name: 'if' },
  );
  b.node('Identity', ['if_out'], {}, { outputs: ['y'], name: 'out_identity' });
  b.node('Sigmoid', ['h'], {}, { outputs: ['z'], name: 'sigmoid' });
  b.node('Tanh', ['h'], {}, { outputs: ['dead'], name: 'dead_tanh' });
  b.output('y', DataType.FLOAT, [2, 4]);
  b.output('z', DataType.FLOAT, [2, 4]);
  return b.model({ opset: 17 });
}

const x = new ort.Tensor(
  'float32',
  Float32Array.from({ length: 8 }, (_, i) => (i - 3.5) / 2),
  [2, 4],
);
const feedsFor = (c: boolean) => ({ x, c: new ort.Tensor('bool', Uint8Array.from([c ? 1 : 0]), []) });

/** Outputs of the model for both branches, by output position. */
async function outputs(m: Model): Promise<number[][]> {
  const out: number[][] = [];
  for (const c of [true, false]) {
    const r = await runOrtNode(m.encode(), feedsFor(c));
    for (const o of m.graph.outputs) out.push(Array.from(r[o.name].data as Float32Array));
  }
  return out;
}

/** Build every graph's producer/consumer index, so a helper that forgets to invalidate leaves it stale. */
function touchIndexes(m: Model): void {
  for (const g of m.graph.allGraphs()) {
    g.producer('x');
    g.consumers('x');
    g.outerReferences();
    g.topologicalOrder();
  }
}

/** The IR's maps equal those of the same model rebuilt from its bytes; its node list is in topological order. */
function expectConsistent(m: Model): void {
  const fresh = Model.decode(m.encode());
  const live = [...m.graph.allGraphs()];
  const rebuilt = [...fresh.graph.allGraphs()];
  expect(live.map((g) => g.name)).toEqual(rebuilt.map((g) => g.name));
  live.forEach((g, k) => {
    const f = rebuilt[k];
    const names = new Set<string>([
      ...g.inputs.map((v) => v.name),
      ...g.initializers.keys(),
      ...g.nodes.flatMap((n) => [...n.outputs, ...n.reads()]),
      ...f.nodes.flatMap((n) => [...n.outputs, ...n.reads()]),
    ]);
    for (const name of names) {
      expect(g.producer(name)?.name, `producer of ${name} in ${g.name}`).toBe(f.producer(name)?.name);
      expect(
        g.consumers(name).map((n) => n.name),
        `consumers of ${name} in ${g.name}`,
      ).toEqual(f.consumers(name).map((n) => n.name));
    }
    expect([...g.outerReferences()].sort()).toEqual([...f.outerReferences()].sort());
    expect(fileOrderIsTopological(f), `node order of ${g.name}`).toBe(true);
  });
  expect(errors(fresh)).toEqual([]);
}

function fileOrderIsTopological(g: Graph): boolean {
  const seen = new Set<string>();
  for (const n of g.nodes) {
    for (const r of n.reads()) if (g.producer(r) && !seen.has(r)) return false;
    for (const o of n.outputs) seen.add(o);
  }
  return true;
}

/** onnx.checker (python3-onnx) accepts the model: sorted nodes, defined names, valid subgraphs. */
function onnxChecker(bytes: Uint8Array): string {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import sys, onnx; onnx.checker.check_model(onnx.load_from_string(sys.stdin.buffer.read())); print("ok")',
    ],
    { input: bytes, encoding: 'buffer' },
  );
  return r.status === 0 ? 'ok' : r.stderr.toString().trim().split('\n').pop()!;
}

describe('validateModel: scopes', () => {
  it('accepts subgraphs that read names of enclosing graphs, also two levels up', () => {
    const m = branchyModel();
    expect(validateModel(m)).toEqual([]);
    // A Loop whose body holds an If that reads `x` (two scopes up) and `k` (an initializer of main).
    const inner = create(GraphProtoSchema, {
      name: 'inner_then',
      node: [
        create(NodeProtoSchema, { opType: 'Mul', name: 'deep_mul', input: ['x', 'k'], output: ['deep'] }),
      ],
      output: [valueInfo('deep', DataType.FLOAT, [2, 4])],
    });
    const body = create(GraphProtoSchema, {
      name: 'body',
      node: [
        create(NodeProtoSchema, {
          opType: 'If',
          name: 'inner_if',
          input: ['cond_in'],
          output: ['v'],
          attribute: [
            makeAttr('then_branch', inner),
            makeAttr('else_branch', create(GraphProtoSchema, { ...inner, name: 'inner_else' })),
          ],
        }),
        create(NodeProtoSchema, {
          opType: 'Identity',
          name: 'keep',
          input: ['cond_in'],
          output: ['cond_out'],
        }),
      ],
      input: [valueInfo('i', DataType.INT64, []), valueInfo('cond_in', DataType.BOOL, [])],
      output: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('v', DataType.FLOAT, [2, 4])],
    });
    m.graph.inputs.push(valueInfo('trip', DataType.INT64, []));
    m.graph.addNode({
      opType: 'Loop',
      name: 'loop',
      inputs: ['trip', 'c'],
      outputs: ['scan_v'],
      attributes: [makeAttr('body', body)],
    });
    expect([...m.graph.allGraphs()].map((g) => g.name)).toEqual([
      'branchy',
      'then',
      'else',
      'body',
      'inner_then',
      'inner_else',
    ]);
    expect(m.graph.consumers('x').map((n) => n.name)).toEqual(['matmul', 'loop']);
    expect(validateModel(m)).toEqual([]);
    expect(validateModel(Model.decode(m.encode()))).toEqual([]);
  });

  it('flags a subgraph reading a name no scope defines, with the subgraph path', () => {
    const m = branchyModel();
    const thenGraph = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs[0].graphs[0];
    thenGraph.nodes[0].setInput(1, 'nowhere');
    expect(errors(m)).toEqual([
      {
        severity: 'error',
        graph: 'main/if:then_branch',
        node: 'then_mul',
        tensor: 'nowhere',
        message:
          'Node "then_mul" (Mul) reads tensor "nowhere", which no node, input or initializer provides.',
      },
    ]);
  });
});

describe('IR mutation helpers keep the maps consistent and the model computing the same', () => {
  it('the original model runs and passes the checks', async () => {
    const m = branchyModel();
    expectConsistent(m);
    const out = await outputs(m);
    expect(out).toHaveLength(4);
    expect(out[0]).not.toEqual(out[2]);
    if (hasPythonOnnx) expect(onnxChecker(m.encode())).toBe('ok');
  });

  it('bypassNode: an inner Identity, then one whose output is a graph output', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    touchIndexes(m);
    expect(m.graph.bypassNode(m.graph.nodes.find((n) => n.name === 'identity')!)).toBe(true);
    expect(m.graph.consumers('h').map((n) => n.name)).toEqual(['relu', 'if', 'sigmoid', 'dead_tanh']);
    expectConsistent(m);
    touchIndexes(m);
    expect(m.graph.bypassNode(m.graph.nodes.find((n) => n.name === 'out_identity')!)).toBe(true);
    // The If node now produces `y` itself; the graph's output names are unchanged.
    expect(m.graph.producer('y')?.name).toBe('if');
    expect(m.graph.producer('if_out')).toBeUndefined();
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['y', 'z']);
    expectConsistent(m);
    expect(await outputs(m)).toEqual(before);
  });

  it('bypassNode refuses (changing nothing) when the graph output name cannot move', () => {
    const m = branchyModel();
    // `h` feeds several nodes, so Sigmoid's output `z` cannot become the producer's output.
    const sigmoidAsIdentity = m.graph.nodes.find((n) => n.name === 'sigmoid')!;
    const bytes = m.encode();
    expect(m.graph.bypassNode(sigmoidAsIdentity)).toBe(false);
    expect(Buffer.from(m.encode()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('insertAfter a value read inside If branches, and after a graph input', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    touchIndexes(m);
    const copy = m.graph.insertAfter('r', { opType: 'Identity', outputs: ['r_copy'], name: 'r_copy' });
    // The If node reads `r` only inside its branches: those reads moved to the new output.
    const branches = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs.map((s) => s.graphs[0]);
    expect(branches.map((g) => g.nodes[0].inputs[0])).toEqual(['r_copy', 'r_copy']);
    expect(m.graph.consumers('r')).toEqual([copy]);
    expect(m.graph.consumers('r_copy').map((n) => n.name)).toEqual(['if']);
    expectConsistent(m);
    touchIndexes(m);
    // A graph input has no producer: the new node goes before its first reader.
    m.graph.insertAfter('x', { opType: 'Identity', outputs: ['x_copy'], name: 'x_copy' });
    expect(m.graph.nodes[0].name).toBe('x_copy');
    expect(m.graph.consumers('x').map((n) => n.name)).toEqual(['x_copy']);
    expectConsistent(m);
    expect(await outputs(m)).toEqual(before);
    if (hasPythonOnnx) expect(onnxChecker(m.encode())).toBe('ok');
  });

  it('insertAfter a graph output moves the output to the new node', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    m.graph.insertAfter('z', { opType: 'Identity', outputs: ['z_after'] });
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['y', 'z_after']);
    expectConsistent(m);
    expect(await outputs(m)).toEqual(before);
  });

  it('replaceUses re-points readers in the graph and inside subgraphs', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    touchIndexes(m);
    const alias = m.graph.addNode(
      { opType: 'Identity', inputs: ['h'], outputs: ['h_alias'], name: 'alias' },
      { after: m.graph.producer('h') },
    );
    m.graph.replaceUses('h', 'h_alias', { except: alias });
    expect(m.graph.consumers('h')).toEqual([alias]);
    expect(m.graph.consumers('h_alias').map((n) => n.name)).toEqual([
      'identity',
      'if',
      'sigmoid',
      'dead_tanh',
    ]);
    const elseBranch = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs[1].graphs[0];
    expect(elseBranch.nodes[0].inputs).toEqual(['r', 'h_alias']);
    expect(elseBranch.outerReferences()).toEqual(['r', 'h_alias']);
    expectConsistent(m);
    expect(await outputs(m)).toEqual(before);
  });

  it('replaceUses renames a subgraph output that names an outer value', () => {
    const m = branchyModel();
    const thenGraph = m.graph.nodes.find((n) => n.opType === 'If')!.subgraphs[0].graphs[0];
    thenGraph.outputs = [valueInfo('r', DataType.FLOAT, [2, 4])];
    thenGraph.nodes = [];
    thenGraph.invalidate();
    expect(m.graph.consumers('r').map((n) => n.name)).toEqual(['if']);
    m.graph.addNode(
      { opType: 'Identity', inputs: ['r'], outputs: ['r2'], name: 'r2' },
      { after: m.graph.producer('r') },
    );
    m.graph.replaceUses('r', 'r2', { except: m.graph.producer('r2') });
    expect(thenGraph.outputs.map((o) => o.name)).toEqual(['r2']);
    expect(m.graph.consumers('r').map((n) => n.name)).toEqual(['r2']);
    expectConsistent(m);
  });

  it('removeDeadCode drops unreachable nodes and unread initializers, keeping what only a branch reads', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    touchIndexes(m);
    expect(m.graph.removeDeadCode()).toEqual({ nodes: 1, initializers: 1 });
    expect(m.graph.nodes.map((n) => n.name)).not.toContain('dead_tanh');
    expect([...m.graph.initializers.keys()]).toEqual(['w', 'bias', 'k']);
    // `r` is read only inside the If branches and must stay.
    expect(m.graph.producer('r')?.name).toBe('relu');
    expect(m.graph.consumers('h').map((n) => n.name)).toEqual(['identity', 'if', 'sigmoid']);
    expectConsistent(m);
    expect(await outputs(m)).toEqual(before);
    if (hasPythonOnnx) expect(onnxChecker(m.encode())).toBe('ok');
  });

  it('all helpers in sequence, then a clone, still compute the same', async () => {
    const m = branchyModel();
    const before = await outputs(m);
    m.graph.bypassNode(m.graph.nodes.find((n) => n.name === 'identity')!);
    m.graph.insertAfter('r', { opType: 'Identity', outputs: ['r_copy'], name: 'r_copy' });
    m.graph.bypassNode(m.graph.nodes.find((n) => n.name === 'r_copy')!);
    m.graph.bypassNode(m.graph.nodes.find((n) => n.name === 'out_identity')!);
    m.graph.removeDeadCode();
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu', 'If', 'Sigmoid']);
    expectConsistent(m);
    const copy = m.clone();
    expectConsistent(copy);
    expect(await outputs(copy)).toEqual(before);
  });
});
