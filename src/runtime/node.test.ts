import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, externalTensor } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { summarizeModel } from '../onnx/summary';
import { Model } from '../onnx/ir';
import { readBytes, sharedModelsDir } from '../test/fixtures';
import { generateInputs } from './inputs';
import { measureLatency } from './latency';
import { createNodeRuntime, fromOrtTensor, parseOrtProfile, toOrtTensor } from './node';
import type { RtTensor } from './types';

/** A model taking one input of every type the runtime boundary must carry, computing something on each. */
function multiTypeModel(): Uint8Array {
  const b = new GraphBuilder('types');
  b.input('x', DataType.FLOAT, ['batch', 3]);
  b.input('i', DataType.INT64, [2]);
  b.input('flag', DataType.BOOL, [2]);
  b.input('h', DataType.FLOAT16, [2]);
  b.input('s', DataType.STRING, [2]);
  b.input('d', DataType.DOUBLE, [2]);
  b.input('u8', DataType.UINT8, [2]);
  b.initializer('w', DataType.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6]);
  b.initializer('big', DataType.INT64, [1], [2 ** 40]);
  b.node('MatMul', ['x', 'w'], {}, { outputs: ['y'] });
  b.node('Add', ['i', 'big'], {}, { outputs: ['i_out'] });
  b.node('Not', ['flag'], {}, { outputs: ['flag_out'] });
  b.node('Add', ['h', 'h'], {}, { outputs: ['h_out'] });
  b.node('Identity', ['s'], {}, { outputs: ['s_out'] });
  b.node('Neg', ['d'], {}, { outputs: ['d_out'] });
  b.node('Identity', ['u8'], {}, { outputs: ['u8_out'] });
  b.output('y', DataType.FLOAT, ['batch', 2]);
  b.output('i_out', DataType.INT64, [2]);
  b.output('flag_out', DataType.BOOL, [2]);
  b.output('h_out', DataType.FLOAT16, [2]);
  b.output('s_out', DataType.STRING, [2]);
  b.output('d_out', DataType.DOUBLE, [2]);
  b.output('u8_out', DataType.UINT8, [2]);
  return b.bytes({ opset: 17 });
}

describe('createNodeRuntime', () => {
  it('reports its name, backend and thread count', () => {
    const rt = createNodeRuntime({ threads: 2 });
    expect(rt.name).toBe('onnxruntime-node');
    expect(rt.backend).toBe('cpu');
    expect(rt.threads).toBe(2);
    expect(createNodeRuntime().threads).toBeGreaterThanOrEqual(1);
    expect(() => createNodeRuntime({ threads: 0 })).toThrow(/positive integer/);
  });

  it('carries float32, int64 (bigint), bool, float16 bits, string, float64 and uint8 both ways', async () => {
    const session = await createNodeRuntime({ threads: 1 }).createSession(multiTypeModel());
    try {
      expect([...session.inputNames]).toEqual(['x', 'i', 'flag', 'h', 's', 'd', 'u8']);
      expect(session.outputNames).toContain('h_out');
      const feeds: Record<string, RtTensor> = {
        x: { type: 'float32', dims: [2, 3], data: new Float32Array([1, 0, 0, 0, 1, 1]) },
        i: { type: 'int64', dims: [2], data: new BigInt64Array([1n, -5n]) },
        flag: { type: 'bool', dims: [2], data: new Uint8Array([1, 0]) },
        h: { type: 'float16', dims: [2], data: new Uint16Array([0x3c00, 0xc100]) }, // 1, -2.5
        s: { type: 'string', dims: [2], data: ['héllo', ''] },
        d: { type: 'float64', dims: [2], data: new Float64Array([Math.PI, -1e300]) },
        u8: { type: 'uint8', dims: [2], data: new Uint8Array([0, 255]) },
      };
      const out = await session.run(feeds);
      expect(out.y).toEqual({ type: 'float32', dims: [2, 2], data: new Float32Array([1, 2, 8, 10]) });
      expect(out.i_out.type).toBe('int64');
      expect([...(out.i_out.data as BigInt64Array)]).toEqual([2n ** 40n + 1n, 2n ** 40n - 5n]);
      expect(out.flag_out).toEqual({ type: 'bool', dims: [2], data: new Uint8Array([0, 1]) });
      expect(out.h_out.type).toBe('float16');
      expect(out.h_out.data).toBeInstanceOf(Uint16Array);
      expect([...(out.h_out.data as Uint16Array)]).toEqual([0x4000, 0xc500]); // 2, -5
      expect(out.s_out).toEqual({ type: 'string', dims: [2], data: ['héllo', ''] });
      expect(out.d_out.data).toEqual(new Float64Array([-Math.PI, 1e300]));
      expect(out.u8_out.data).toEqual(new Uint8Array([0, 255]));

      const some = await session.run(feeds, ['s_out']);
      expect(Object.keys(some)).toEqual(['s_out']);
    } finally {
      await session.release();
    }
  });

  it('names the input when a feed cannot become an onnxruntime tensor', () => {
    expect(() => toOrtTensor('x', { type: 'float32', dims: [2], data: ['a', 'b'] })).toThrow(/input "x"/);
    expect(() => toOrtTensor('x', { type: 'float32', dims: [3], data: new Float32Array(2) })).toThrow(
      /input "x"/,
    );
    const back = fromOrtTensor(
      'y',
      toOrtTensor('y', { type: 'int8', dims: [1, 2], data: new Int8Array([-1, 1]) }),
    );
    expect(back).toEqual({ type: 'int8', dims: [1, 2], data: new Int8Array([-1, 1]) });
  });

  it('reads weights from external data passed in memory', async () => {
    const b = new GraphBuilder('external');
    b.input('x', DataType.FLOAT, [1, 4]);
    const file = new Uint8Array(64 + 32);
    file.set(new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer), 64);
    b.tensor(externalTensor('W', DataType.FLOAT, [4, 2], 'weights.bin', 64, 32));
    b.node('MatMul', ['x', 'W'], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 2]);
    const rt = createNodeRuntime({ threads: 1 });
    await expect(rt.createSession(b.bytes())).rejects.toThrow();
    const session = await rt.createSession(b.bytes(), { externalData: new Map([['weights.bin', file]]) });
    try {
      const out = await session.run({
        x: { type: 'float32', dims: [1, 4], data: new Float32Array([1, 0, 0, 1]) },
      });
      expect(out.y.data).toEqual(new Float32Array([1 + 7, 2 + 8]));
    } finally {
      await session.release();
    }
  });

  it('returns per-kernel timings when profiling', async () => {
    const b = new GraphBuilder('profiled');
    b.input('x', DataType.FLOAT, [1, 8]);
    b.node('Relu', ['x'], {}, { outputs: ['r'], name: 'the_relu' });
    b.node('Sigmoid', ['r'], {}, { outputs: ['y'], name: 'the_sigmoid' });
    b.output('y', DataType.FLOAT, [1, 8]);
    const session = await createNodeRuntime({ threads: 1 }).createSession(b.bytes(), { profile: true });
    try {
      const feeds = { x: { type: 'float32', dims: [1, 8], data: new Float32Array(8).fill(-1) } };
      await session.run(feeds);
      await session.run(feeds);
      const timings = await session.endProfiling();
      const relu = timings.filter((t) => t.node === 'the_relu');
      expect(relu).toHaveLength(2);
      expect(relu[0].op).toBe('Relu');
      expect(relu[0].provider).toBe('CPUExecutionProvider');
      expect(timings.some((t) => t.op === 'Sigmoid')).toBe(true);
      expect(timings.every((t) => t.durationUs >= 0)).toBe(true);
    } finally {
      await session.release();
    }
    const plain = await createNodeRuntime({ threads: 1 }).createSession(b.bytes());
    await expect(plain.endProfiling()).rejects.toThrow(/profile: true/);
    await plain.release();
  });

  it('parses only kernel events from a profile', () => {
    const json = JSON.stringify([
      { cat: 'Session', name: 'model_run', dur: 50 },
      {
        cat: 'Node',
        name: 'conv1_kernel_time',
        dur: 12,
        args: { op_name: 'Conv', provider: 'CPUExecutionProvider' },
      },
      { cat: 'Node', name: 'conv1_fence_before', dur: 0 },
    ]);
    expect(parseOrtProfile(json)).toEqual([
      { node: 'conv1', op: 'Conv', provider: 'CPUExecutionProvider', durationUs: 12 },
    ]);
  });

  it('reports onnxruntime load errors as rejections', async () => {
    const b = new GraphBuilder('bad');
    b.input('x', DataType.FLOAT, [1]);
    b.node('NoSuchOperator', ['x'], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1]);
    await expect(createNodeRuntime({ threads: 1 }).createSession(b.bytes())).rejects.toThrow(
      /NoSuchOperator/,
    );
  });

  const mnist = path.join(sharedModelsDir, 'mnist-8.onnx');
  const digits = path.join(sharedModelsDir, 'datasets/mnist_test_1000.json');
  it.skipIf(!existsSync(mnist) || !existsSync(digits))(
    'classifies real MNIST digits with mnist-8',
    async () => {
      const bytes = readBytes(mnist);
      const data = JSON.parse(readFileSync(digits, 'utf8')) as { labels: number[]; images: number[][] };
      const runtime = createNodeRuntime({ threads: 1 });
      const session = await runtime.createSession(bytes);
      try {
        expect(session.inputNames).toEqual(['Input3']);
        let correct = 0;
        const n = 50;
        for (let k = 0; k < n; k++) {
          const out = await session.run({
            Input3: { type: 'float32', dims: [1, 1, 28, 28], data: Float32Array.from(data.images[k]) },
          });
          const logits = out.Plus214_Output_0.data as Float32Array;
          expect(out.Plus214_Output_0.dims).toEqual([1, 10]);
          if (logits.indexOf(Math.max(...logits)) === data.labels[k]) correct++;
        }
        // mnist-8 scores 98.7 % on the first 1000 digits; 50 of them leave room for one or two misses.
        expect(correct).toBeGreaterThanOrEqual(48);

        const inputs = summarizeModel(Model.decode(bytes), bytes.byteLength).inputs;
        const latency = await measureLatency(session, generateInputs(inputs), { runs: 5, warmup: 1 });
        expect(latency.runs).toBe(5);
        expect(latency.medianMs).toBeGreaterThan(0);
      } finally {
        await session.release();
      }
    },
  );
});
