import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { decodeModelProto, encodeModelProto } from '../onnx/codec';
import { DataType } from '../onnx/dtype';
import { GraphProtoSchema, StringStringEntryProtoSchema } from '../onnx/proto/onnx_pb';
import { createNodeRuntime } from '../runtime/node';
import { exportStageModel, provenanceKeys, readProvenance, withProvenance } from './provenance';
import { formatRecipe, parseRecipe } from './recipe';
import { runPipeline, sha256Hex } from './runner';

const runtime = createNodeRuntime({ threads: 1 });

/** x → MatMul → Identity → y, with metadata of its own (simplify removes the Identity). */
function model(): Uint8Array {
  const b = new GraphBuilder('m');
  b.input('x', DataType.FLOAT, [1, 4]);
  b.initializer('w', DataType.FLOAT, [4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const mm = b.op('MatMul', ['x', 'w'], {}, 'mm');
  b.node('Identity', [mm], {}, { name: 'id', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  const proto = decodeModelProto(b.bytes());
  proto.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'author', value: 'someone' }));
  return encodeModelProto(proto);
}

const recipe = parseRecipe({ whittle: 1, stages: [{ stage: 'simplify' }, { stage: 'fold-batchnorm' }] });

async function run() {
  const bytes = model();
  const results = await runPipeline({
    modelBytes: bytes,
    recipe,
    runtime,
    latencyRuns: 2,
    generatedSamples: 3,
  });
  expect(results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
  return { bytes, results };
}

const withoutMetadata = (bytes: Uint8Array) => {
  const p = decodeModelProto(bytes);
  p.metadataProps = [];
  return encodeModelProto(p);
};

describe('provenance', () => {
  it('records recipe, per-stage metrics, source hash and version, and changes nothing else', async () => {
    const { bytes, results } = await run();
    const stage = results[1].modelBytes!;
    const sourceSha256 = await sha256Hex(bytes);
    const out = withProvenance(stage, { recipe, results, upTo: 1, sourceSha256, version: '9.9.9' });

    const a = decodeModelProto(stage);
    const b = decodeModelProto(out);
    expect(toBinary(GraphProtoSchema, b.graph!)).toEqual(toBinary(GraphProtoSchema, a.graph!));
    expect(withoutMetadata(out)).toEqual(withoutMetadata(stage));
    expect(b.metadataProps.map((e) => e.key)).toEqual([
      'author',
      provenanceKeys.recipe,
      provenanceKeys.stages,
      provenanceKeys.sourceSha256,
      provenanceKeys.version,
    ]);

    const p = readProvenance(out)!;
    expect(p.version).toBe('9.9.9');
    expect(p.sourceSha256).toBe(sourceSha256);
    expect(p.recipe).toEqual(JSON.parse(formatRecipe({ whittle: 1, stages: recipe.stages.slice(0, 1) })));
    expect(p.stages.map((s) => s.stage)).toEqual([null, 'simplify']);
    expect(p.stages[0].sqnrDb).toBe('inf');
    expect(p.stages[1].bytes).toBe(results[1].metrics!.bytes);
    expect(p.stages[1].sha256).toBe(results[1].modelHash);
    expect(p.stages[1].latencyMedianMs).toBeCloseTo(results[1].metrics!.latency.medianMs, 4);
  });

  it('replaces its own earlier entries instead of piling them up', async () => {
    const { bytes, results } = await run();
    const sourceSha256 = await sha256Hex(bytes);
    const once = withProvenance(results[2].modelBytes!, {
      recipe,
      results,
      upTo: 2,
      sourceSha256,
      version: '1',
    });
    const twice = withProvenance(once, { recipe, results, upTo: 2, sourceSha256, version: '2' });
    const keys = decodeModelProto(twice).metadataProps.map((e) => e.key);
    expect(keys.filter((k) => k.startsWith('whittle.'))).toHaveLength(4);
    expect(readProvenance(twice)!.version).toBe('2');
    expect(readProvenance(twice)!.recipe.stages).toHaveLength(2);
  });

  it('finds nothing in a model Whittle did not write', () => {
    expect(readProvenance(model())).toBeNull();
  });

  it('exports an unmodified model byte for byte and a changed one with provenance and a telling name', async () => {
    const { bytes, results } = await run();
    const original = await exportStageModel({
      modelFileName: 'dir/m.onnx',
      results,
      upTo: 0,
      recipe,
      version: '1',
      runtime,
    });
    expect(original.modified).toBe(false);
    expect(original.fileName).toBe('m.onnx');
    expect(original.bytes).toBe(bytes);

    const last = await exportStageModel({
      modelFileName: 'dir/m.onnx',
      results,
      upTo: 2,
      recipe,
      version: '1',
      runtime,
    });
    expect(last.modified).toBe(true);
    expect(last.fileName).toBe('m.whittle-simplified-bnfolded.onnx');
    expect(readProvenance(last.bytes)!.stages).toHaveLength(3);
    expect(readProvenance(last.bytes)!.sourceSha256).toBe(results[0].modelHash);
  });

  it('refuses to export a stage that has no model', async () => {
    const { results } = await run();
    const broken = results.map((r) =>
      r.index === 1 ? { ...r, status: 'error' as const, modelBytes: undefined } : r,
    );
    await expect(
      exportStageModel({ modelFileName: 'm.onnx', results: broken, upTo: 1, recipe, version: '1' }),
    ).rejects.toThrow(/stage 1 has no model/);
  });
});
