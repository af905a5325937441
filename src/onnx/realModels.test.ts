import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeModelProto, encodeModelProto } from './codec';
import { Model, type Node } from './ir';
import { summarizeModel, type ValueSummary } from './summary';
import { validateModel } from './validate';
import corpus from './corpus.json';
import { generateInputs } from '../runtime/inputs';
import { readBytes, runOrtNode, sharedModelFiles, sharedModelsDir } from '../test/fixtures';

/**
 * Every real model of ../shared/models, driven by corpus.json: byte-identical decode → encode and
 * decode → IR → encode, no validation issues, the README's node counts, and the same onnxruntime-node
 * outputs from the original bytes and from a copy whose IR was changed without changing its meaning.
 */
interface InputSpec {
  shape: number[];
  /** Fixed element values (e.g. the sample rate), instead of generated ones. */
  values?: number[];
  /** Fill every element with this value (e.g. zero recurrent state). */
  fill?: number;
}
interface CorpusEntry {
  file: string;
  nodes: number;
  nodesTotal: number;
  initializers: number;
  parameters: number;
  inputs: Record<string, InputSpec>;
  expect: { reencode: 'byte-identical'; validate: 'no issues'; ort: 'identical outputs' };
}

const entries = corpus.models as unknown as CorpusEntry[];
const files = sharedModelFiles();
const same = (a: Uint8Array, b: Uint8Array) =>
  a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));

function feedsFor(entry: CorpusEntry, inputs: readonly ValueSummary[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of inputs) {
    const spec = entry.inputs[v.name];
    if (!spec) throw new Error(`corpus.json gives no shape for input "${v.name}" of ${entry.file}`);
    const t = generateInputs([{ ...v, shape: spec.shape }], {}, 1)[v.name];
    const data = t.data;
    if (typeof data[0] === 'string') throw new Error('string inputs are not generated');
    const numeric = data as Exclude<typeof data, string[]>;
    const set = (i: number, x: number) => {
      if (numeric instanceof BigInt64Array || numeric instanceof BigUint64Array) numeric[i] = BigInt(x);
      else numeric[i] = x;
    };
    if (spec.values) spec.values.forEach((x, i) => set(i, x));
    if (spec.fill !== undefined) for (let i = 0; i < numeric.length; i++) set(i, spec.fill);
    feeds[v.name] = new ort.Tensor(t.type as 'float32', numeric as Float32Array, [...t.dims]);
  }
  return feeds;
}

/** Differences between two runs' outputs: names, types, shapes and every element's bits. */
function outputDifferences(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): string[] {
  const problems: string[] = [];
  if (Object.keys(a).join() !== Object.keys(b).join())
    problems.push(`outputs ${Object.keys(b)} instead of ${Object.keys(a)}`);
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (!y) continue;
    if (x.type !== y.type || x.dims.join() !== y.dims.join())
      problems.push(`${name}: ${y.type}[${y.dims}] instead of ${x.type}[${x.dims}]`);
    const bytes = (t: ort.Tensor) => {
      const d = t.data as Float32Array;
      return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    };
    if (!bytes(x).equals(bytes(y))) problems.push(`${name}: element values differ`);
  }
  return problems;
}

/**
 * The IR changed without changing meaning: one node renamed per graph (subgraphs included) and an
 * Identity in front of every graph output. `undo` reverts it through the IR helpers (bypassNode).
 */
function editWithoutChangingMeaning(model: Model): { undo: () => void; identities: number } {
  const renamed: { node: Node; name: string }[] = [];
  for (const g of model.graph.allGraphs()) {
    const node = g.nodes.find((n) => n.name);
    if (!node) continue;
    renamed.push({ node, name: node.name });
    node.proto.name = `${node.name}__renamed`;
  }
  const identities: Node[] = [];
  const g = model.graph;
  for (const out of g.outputs) {
    const producer = g.producer(out.name);
    if (!producer) continue;
    const pre = g.uniqueName(`${out.name}__pre`);
    producer.setOutput(producer.outputs.indexOf(out.name), pre);
    identities.push(
      g.addNode(
        {
          opType: 'Identity',
          inputs: [pre],
          outputs: [out.name],
          name: g.uniqueName(`${out.name}__identity`),
        },
        { after: producer },
      ),
    );
  }
  return {
    identities: identities.length,
    undo: () => {
      for (const n of identities) expect(g.bypassNode(n)).toBe(true);
      for (const { node, name } of renamed) node.proto.name = name;
    },
  };
}

describe.skipIf(files.length === 0)('real models (../shared/models)', () => {
  it('has a corpus.json entry for every model file, and a file for every entry', () => {
    const present = files.map((f) => path.relative(sharedModelsDir, f)).sort();
    expect(entries.map((e) => e.file).sort()).toEqual(present);
  });

  for (const entry of entries) {
    describe(entry.file, () => {
      const file = path.join(sharedModelsDir, entry.file);

      it('re-encodes byte for byte (codec and IR), validates cleanly, and has the expected counts', () => {
        const bytes = readBytes(file);
        expect(same(encodeModelProto(decodeModelProto(bytes)), bytes)).toBe(true);
        const model = Model.decode(bytes);
        expect(same(model.encode(), bytes)).toBe(true);
        expect(validateModel(model)).toEqual([]);
        const s = summarizeModel(model, bytes.byteLength);
        expect({
          nodes: s.nodes,
          nodesTotal: s.nodesTotal,
          initializers: s.initializers,
          parameters: s.parameters,
        }).toEqual({
          nodes: entry.nodes,
          nodesTotal: entry.nodesTotal,
          initializers: entry.initializers,
          parameters: entry.parameters,
        });
        expect(s.bytes).toBe(bytes.byteLength);
        expect(Object.keys(entry.inputs).sort()).toEqual(s.inputs.map((v) => v.name).sort());
      });

      it('gives identical onnxruntime-node outputs after a meaning-preserving IR edit, and undoes it exactly', async () => {
        const bytes = readBytes(file);
        const original = Model.decode(bytes);
        const feeds = feedsFor(entry, summarizeModel(original, bytes.byteLength).inputs);
        const expected = await runOrtNode(bytes, feeds);

        const edited = original.clone();
        const edit = editWithoutChangingMeaning(edited);
        expect(edit.identities).toBeGreaterThan(0);
        const editedBytes = edited.encode();
        expect(same(editedBytes, bytes)).toBe(false);
        expect(validateModel(Model.decode(editedBytes))).toEqual([]);
        expect(outputDifferences(expected, await runOrtNode(editedBytes, feeds))).toEqual([]);

        edit.undo();
        expect(same(edited.encode(), bytes)).toBe(true);
      });
    });
  }
});
