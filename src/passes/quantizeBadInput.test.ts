/**
 * What the four quantization stages do with input they cannot quantize: a model that is already
 * quantized (QDQ, QLinear*, MatMulNBits, dynamic), a model with nothing to quantize, and calibration
 * data that does not fit the model. Each must fail with a message naming the problem and leave the
 * input Model exactly as it was (its encoded bytes before and after are compared).
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { Dataset, makeSplits, PreprocessSchema } from '../data/dataset';
import { hasSharedModels } from '../test/fixtures';
import type { AnyStage, StageContext } from './types';
import { quantizeStatic } from './quantizeStatic';
import { quantizeDynamic } from './quantizeDynamic';
import { quantizeInt4 } from './quantizeInt4';
import { convertFp16 } from './convertFp16';
import {
  buildCnn,
  buildMlp,
  expectSameBytes,
  readSharedModel,
  stageContext,
  syntheticDataset,
} from './testing/quantFixtures';

const stages: AnyStage[] = [quantizeStatic, quantizeDynamic, convertFp16, quantizeInt4];
const defaultsOf = (stage: AnyStage) => stage.params.parse({}) as Record<string, unknown>;

/** Run a stage that must fail: the message matches and the input model's bytes did not change. */
async function expectRefusal(
  stage: AnyStage,
  model: Model,
  ctx: StageContext,
  message: string | RegExp,
  params: Record<string, unknown> = {},
): Promise<void> {
  const before = model.encode();
  await expect(stage.run(model, { ...defaultsOf(stage), ...params }, ctx)).rejects.toThrow(message);
  expectSameBytes(model.encode(), before);
}

/** x[1,4] → QuantizeLinear → QLinearMatMul (uint8 weight) → DequantizeLinear → y: an ONNX integer model. */
function qlinearModel(): Model {
  const b = new GraphBuilder('qlinear');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const s = b.initializer('s', DataType.FLOAT, [], [0.05]);
  const z = b.initializer('z', DataType.UINT8, [], [128]);
  const xq = b.op('QuantizeLinear', [x, s, z]);
  const w = b.initializer('w', DataType.UINT8, [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const ws = b.initializer('ws', DataType.FLOAT, [], [0.01]);
  const wz = b.initializer('wz', DataType.UINT8, [], [6]);
  const yq = b.op('QLinearMatMul', [xq, s, z, w, ws, wz, s, z]);
  b.node('DequantizeLinear', [yq, s, z], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 3]);
  return b.model({ opset: 13 });
}

describe('already quantized models are refused by every quantization stage', () => {
  let data: Dataset;
  const quantized = new Map<string, { model: Model; shows: RegExp }>();
  beforeAll(async () => {
    const cnn = buildCnn();
    data = await syntheticDataset(cnn, { calibration: 16, evaluation: 0 });
    const ctx = stageContext(data);
    quantized.set('QDQ (quantize-static)', {
      model: (await quantizeStatic.run(cnn, defaultsOf(quantizeStatic), ctx)).model,
      shows: /QuantizeLinear ×\d+, DequantizeLinear ×\d+/,
    });
    quantized.set('dynamic (quantize-dynamic)', {
      model: (await quantizeDynamic.run(buildMlp(), defaultsOf(quantizeDynamic), ctx)).model,
      shows: /DynamicQuantizeLinear ×3, MatMulInteger ×3/,
    });
    quantized.set('MatMulNBits (quantize-int4)', {
      model: (await quantizeInt4.run(buildMlp(), defaultsOf(quantizeInt4), stageContext())).model,
      shows: /MatMulNBits ×3/,
    });
    quantized.set('QLinearMatMul', { model: qlinearModel(), shows: /QLinearMatMul ×1/ });
  });

  for (const stage of stages)
    it(`${stage.id}`, async () => {
      for (const [what, q] of quantized) {
        const message = new RegExp(
          `^${stage.id}: the model is already quantized \\(.*${q.shows.source}.*\\); run ${stage.id} on the float model instead$`,
        );
        await expectRefusal(stage, q.model, stageContext(data), message).catch((e: unknown) => {
          throw new Error(`${stage.id} on ${what}: ${e instanceof Error ? e.message : String(e)}`);
        });
      }
    });

  it.skipIf(!hasSharedModels)('including ONNX conformance models of the integer operators', async () => {
    const cases: [string, RegExp][] = [
      ['test_qlinearconv', /QLinearConv ×1/],
      ['test_qlinearmatmul_2D', /QLinearMatMul ×1/],
      ['test_matmulinteger', /MatMulInteger ×1/],
      ['test_convinteger_with_padding', /ConvInteger ×1/],
      ['test_dynamicquantizelinear', /DynamicQuantizeLinear ×1/],
      ['test_quantizelinear', /QuantizeLinear ×1/],
      ['test_dequantizelinear', /DequantizeLinear ×1/],
    ];
    for (const [folder, shows] of cases) {
      const model = readSharedModel(path.join('onnx_node_tests', folder, 'model.onnx'));
      for (const stage of stages)
        await expectRefusal(
          stage,
          model,
          stageContext(data),
          new RegExp(`already quantized \\(${shows.source}\\)`),
        );
    }
  });
});

describe('models with nothing to quantize', () => {
  /** x → Sigmoid → Relu → y: float, but no weights and no operator the stages quantize by default. */
  function noWeights(): Model {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 3, 16, 16]);
    b.node('Relu', [b.op('Sigmoid', [x])], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 3, 16, 16]);
    return b.model({ opset: 17 });
  }
  /** Integer arithmetic only: nothing is float. */
  function integerOnly(): Model {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.INT32, [4]);
    const c = b.initializer('c', DataType.INT32, [4], [1, 2, 3, 4]);
    b.node('Add', [x, c], {}, { outputs: ['y'] });
    b.output('y', DataType.INT32, [4]);
    return b.model({ opset: 17 });
  }

  it('each stage names what it looked for and why it found nothing', async () => {
    const cnn = buildCnn();
    const data = await syntheticDataset(cnn, { calibration: 4, evaluation: 0 });
    const ctx = stageContext(data);
    await expectRefusal(
      quantizeStatic,
      noWeights(),
      ctx,
      'quantize-static: the model has no quantizable operator (looked for Conv, Gemm, MatMul, Add, Mul, MaxPool, AveragePool, GlobalAveragePool, Concat)',
    );
    await expectRefusal(
      quantizeStatic,
      cnn,
      ctx,
      'quantize-static: the model has no quantizable operator (looked for Conv, Gemm); 3 excluded',
      { ops: ['Conv', 'Gemm'], exclude: ['conv1', 'conv2', 'fc'] },
    );
    // A CNN has nothing for the MatMul stages by default.
    await expectRefusal(
      quantizeDynamic,
      noWeights(),
      ctx,
      'quantize-dynamic: the model has no quantizable operator (looked for MatMul, Gemm)',
    );
    await expectRefusal(
      quantizeInt4,
      noWeights(),
      ctx,
      'quantize-int4: the model has no MatMul or Gemm with a constant 2-D weight to quantize',
    );
    await expectRefusal(
      quantizeInt4,
      cnn,
      ctx,
      'quantize-int4: the model has no MatMul or Gemm with a constant 2-D weight to quantize (1 excluded)',
      { exclude: ['fc'] },
    );
    await expectRefusal(
      convertFp16,
      integerOnly(),
      ctx,
      'convert-fp16: the model has no float32 tensors to convert',
    );
  });
});

describe('calibration data that does not fit the model', () => {
  let mlp: Model;
  beforeAll(() => {
    mlp = buildMlp();
  });
  /** A dataset of `count` zero samples fed to input `name` with the given shape and element type. */
  function dataset(shape: number[], name = 'x', elemType: number = DataType.FLOAT, calibration = 4): Dataset {
    const size = shape.reduce((a, b) => a * b, 1);
    return new Dataset(
      { values: new Float32Array(size * 4), count: 4, sampleShape: shape.slice(1) },
      { name, elemType, shape },
      PreprocessSchema.parse({}),
      makeSplits(4, { train: 0, calibration, evaluation: 4 - calibration }),
    );
  }

  it('quantize-static and quantize-int4 say what does not match, and write nothing', async () => {
    for (const stage of [quantizeStatic, quantizeInt4]) {
      const id = stage.id;
      await expectRefusal(
        stage,
        mlp,
        stageContext(dataset([1, 8, 32])),
        `${id}: calibration samples have shape [1, 8, 32] but input "x" expects [1, 8, 64]`,
      );
      await expectRefusal(
        stage,
        mlp,
        stageContext(dataset([1, 512])),
        `${id}: calibration samples have shape [1, 512] but input "x" expects [1, 8, 64]`,
      );
      await expectRefusal(
        stage,
        mlp,
        stageContext(dataset([1, 8, 64], 'image')),
        `${id}: the dataset feeds input "image", but the model's inputs are "x"`,
      );
      await expectRefusal(
        stage,
        mlp,
        stageContext(dataset([1, 8, 64], 'x', DataType.INT64)),
        `${id}: calibration samples are int64 but input "x" is float`,
      );
      await expectRefusal(
        stage,
        mlp,
        stageContext(dataset([1, 8, 64], 'x', DataType.FLOAT, 0)),
        `${id} needs calibration samples, but the dataset's calibration split is empty`,
      );
    }
    await expectRefusal(
      quantizeStatic,
      mlp,
      stageContext(),
      'quantize-static needs calibration data: open a dataset',
    );
  });

  it('cancelling during calibration leaves the input as it was', async () => {
    for (const stage of [quantizeStatic, quantizeInt4]) {
      const controller = new AbortController();
      const ctx: StageContext = {
        ...stageContext(dataset([1, 8, 64]), controller.signal),
        progress: (done) => done === 2 && controller.abort(),
      };
      await expectRefusal(stage, mlp, ctx, /abort/i);
    }
  });

  it('quantize-int4 without calibration, quantize-dynamic and convert-fp16 do not depend on the data fitting', async () => {
    const misfit = stageContext(dataset([1, 8, 32]));
    const before = mlp.encode();
    const int4 = await quantizeInt4.run(mlp, { ...defaultsOf(quantizeInt4), calibrated: false }, misfit);
    expect(int4.notes).toContain('rounding: RTN ×3');
    const dynamic = await quantizeDynamic.run(mlp, defaultsOf(quantizeDynamic), misfit);
    expect(dynamic.notes[0]).toMatch(/^quantized 3 MatMul/);
    // convert-fp16 only checks value ranges on the data: it says the check could not run, and why.
    const half = await convertFp16.run(mlp, defaultsOf(convertFp16), misfit);
    expect(half.notes.find((n) => n.startsWith('range check'))).toMatch(
      /^range check skipped: the model did not run on dataset samples \(.*\); open a dataset to check value ranges$/,
    );
    expectSameBytes(mlp.encode(), before);
  });
});
