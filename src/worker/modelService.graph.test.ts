import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeMetrics, macsPerNode } from '../metrics/compute';
import { valueInfo } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { summarizeGraph } from '../onnx/summary';
import { ModelService } from './modelService';
import { smallCnn } from './testing/models';

const sampleBytes = () => {
  const b = readFileSync(path.resolve(import.meta.dirname, '../../public/samples/digits-cnn.onnx'));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

/** The sample's graph with its batch dimension (`N`) fixed at 1, as MACs are counted per sample. */
function sampleAtBatchOne(bytes: Uint8Array) {
  const m = Model.decode(bytes);
  expect(m.graph.inputs.map((v) => m.graph.valueShape(v.name))).toEqual([['N', 1, 28, 28]]);
  m.graph.inputs = [valueInfo('image', DataType.FLOAT, [1, 1, 28, 28])];
  m.graph.invalidate();
  return m.graph;
}

/** The sample with its first BatchNormalization bypassed: a model that differs by one node. */
function withoutFirstBatchNorm(bytes: Uint8Array): Uint8Array {
  const m = Model.decode(bytes);
  m.graph.bypassNode(m.graph.nodes.find((n) => n.opType === 'BatchNormalization')!);
  return m.encode();
}

describe('ModelService per-node facts', () => {
  it('gives a node its MACs in the details, as computeMetrics counts them', async () => {
    const service = new ModelService();
    const bytes = sampleBytes();
    await service.open([{ name: 'digits-cnn.onnx', bytes }]);
    const graph = sampleAtBatchOne(bytes);
    const byName = computeMetrics(graph).macsByNode;
    const convs = graph.nodes.flatMap((n, i) => (n.opType === 'Conv' ? [{ n, i }] : []));
    expect(convs.length).toBeGreaterThan(0);
    for (const { n, i } of convs) {
      const details = service.nodeDetails(`n${i}`);
      expect(details?.macs).toBe(byName.get(n.name));
      expect(details?.macs).toBeGreaterThan(0);
    }
    const relu = graph.nodes.findIndex((n) => n.opType === 'Relu');
    expect(service.nodeDetails(`n${relu}`)?.macs).toBe(0);
  });

  it('counts MACs for one sample when the batch dimension is symbolic', async () => {
    const service = new ModelService();
    await service.open([smallCnn()]);
    expect(service.nodeDetails('n0')?.node.opType).toBe('Conv');
    // Conv 4×1×3×3 on 1×1×8×8 without padding: 4×6×6 outputs of 9 MACs each.
    expect(service.nodeDetails('n0')?.macs).toBe(4 * 6 * 6 * 9);
  });

  it('returns every node’s MACs as one array by node index', async () => {
    const service = new ModelService();
    expect(service.nodeCosts().ok).toBe(false);
    const bytes = sampleBytes();
    await service.open([{ name: 'digits-cnn.onnx', bytes }]);
    const costs = service.nodeCosts();
    if (!costs.ok) throw new Error(costs.error);
    expect(costs.macs).toEqual(macsPerNode(sampleAtBatchOne(bytes)));
    expect(costs.macs.every(Number.isFinite)).toBe(true);
    // A copy each time: transferring one never empties the service's cache.
    const again = service.nodeCosts();
    expect(again.ok && again.macs).not.toBe(costs.macs);
  });

  it('compares two models, and details and costs follow the side shown', async () => {
    const service = new ModelService();
    expect(service.compare(null, null)).toMatchObject({ ok: false });
    const bytes = sampleBytes();
    await service.open([{ name: 'digits-cnn.onnx', bytes }]);
    const later = withoutFirstBatchNorm(bytes);
    const r = service.compare(null, { name: 'stage.onnx', bytes: later });
    if (!r.ok) throw new Error(r.error);
    expect(r.from).toEqual(summarizeGraph(Model.decode(bytes).graph));
    expect(r.to).toEqual(summarizeGraph(Model.decode(later).graph));
    expect(r.to.nodes.length).toBe(r.from.nodes.length - 1);
    expect(r.diff.removed).toEqual(['/features/bn1/BatchNormalization']);
    expect(r.diff.added).toEqual([]);

    // The `from` side is shown first: n1 is the BatchNormalization there, the Relu after the bypass.
    expect(service.nodeDetails('n1')?.node.opType).toBe('BatchNormalization');
    expect(service.compareSide('to')).toBe(true);
    expect(service.nodeDetails('n1')?.node.opType).toBe('Relu');
    const costs = service.nodeCosts();
    expect(costs.ok && costs.macs.length).toBe(r.to.nodes.length);
    // Ending the comparison returns to the opened model.
    expect(service.compareSide(null)).toBe(true);
    expect(service.nodeDetails('n1')?.node.opType).toBe('BatchNormalization');
    expect(service.compareSide('to')).toBe(false);

    // Showing a stage model ends a comparison too.
    service.compare(null, { name: 'stage.onnx', bytes: later });
    service.compareSide('to');
    service.view(null);
    expect(service.nodeDetails('n1')?.node.opType).toBe('BatchNormalization');
  });

  it('reports a model that cannot be decoded', async () => {
    const service = new ModelService();
    await service.open([smallCnn()]);
    const r = service.compare(null, { name: 'broken.onnx', bytes: new Uint8Array([1, 2, 3]) });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^Could not compare: /);
  });
});
