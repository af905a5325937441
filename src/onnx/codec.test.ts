import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import {
  OnnxFormatError,
  decodeModelProto,
  decodeTensorProto,
  encodeModelProto,
  encodeTensorProto,
  sniffNotOnnx,
} from './codec';
import { DataType, allDataTypes } from './dtype';
import { AttrType, Model } from './ir';
import { type ModelProto, ModelProtoSchema, TensorProto_DataLocation } from './proto/onnx_pb';
import { tensorToFloat64 } from './tensor';
import { dtypeFixtures, rawTensor, typedTensor } from './testing/dtypeFixtures';
import { hasPythonOnnx } from './testing/digest';
import { INT64_MAX, INT64_MIN, kitchenSinkModel } from './testing/kitchenSink';
import { type FieldStep, appendToMessage, containsBytes, unknownFields } from './testing/wire';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import { seededRandom } from '../runtime/inputs';

const same = (a: Uint8Array, b: Uint8Array) =>
  a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));

/** decode → encode, and decode → IR → encode, must both give back exactly these bytes. */
function expectRoundTrips(bytes: Uint8Array): void {
  expect(same(encodeModelProto(decodeModelProto(bytes)), bytes)).toBe(true);
  expect(same(Model.decode(bytes).encode(), bytes)).toBe(true);
}

/** ONNX's Python package (C++/upb protobuf) parses and re-serializes the bytes. */
function pythonReserialize(bytes: Uint8Array): Uint8Array {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import sys, onnx; m = onnx.ModelProto(); m.ParseFromString(sys.stdin.buffer.read()); sys.stdout.buffer.write(m.SerializeToString())',
    ],
    { input: bytes, maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return new Uint8Array(r.stdout);
}

const sinkBytes = encodeModelProto(kitchenSinkModel());

describe('codec: a model using every part of the schema', () => {
  it('round-trips byte for byte through the codec and through the IR', () => {
    expect(sinkBytes.byteLength).toBeGreaterThan(4000);
    expectRoundTrips(sinkBytes);
    // Also after an IR copy, and from a buffer that is a slice of a bigger one.
    expect(same(Model.decode(sinkBytes).clone().encode(), sinkBytes)).toBe(true);
    const padded = new Uint8Array(sinkBytes.byteLength + 7);
    padded.set(sinkBytes, 7);
    expectRoundTrips(padded.subarray(7));
  });

  it.skipIf(!hasPythonOnnx)(
    'is encoded exactly as protobuf itself encodes it (python3-onnx re-serializes it unchanged)',
    () => {
      expect(same(pythonReserialize(sinkBytes), sinkBytes)).toBe(true);
    },
  );

  it('keeps every element type, in raw_data and in the typed fields', () => {
    const g = decodeModelProto(sinkBytes).graph!;
    const byName = new Map(g.initializer.map((t) => [t.name, t]));
    for (const f of dtypeFixtures) {
      const forms = f.raw ? [`raw_${f.name}`, `typed_${f.name}`] : [`typed_${f.name}`];
      for (const name of forms) {
        const t = byName.get(name)!;
        expect(t.dataType).toBe(f.dataType);
        expect(t.dims.map(Number)).toEqual(f.dims);
        if (f.dataType === DataType.STRING)
          expect(t.stringData.map((s) => new TextDecoder().decode(s))).toEqual(f.expected);
        else
          Array.from(tensorToFloat64(t)).forEach((v, i) =>
            expect(Object.is(v, f.expected[i]), `${name}[${i}]`).toBe(true),
          );
      }
      if (f.raw) expect(byName.get(`raw_${f.name}`)!.rawData).toEqual(f.raw);
    }
    expect(new Set(g.initializer.map((t) => t.dataType))).toEqual(new Set(allDataTypes));
  });

  it('keeps every attribute kind, negative int64s, INT64_MAX/MIN and arbitrary string bytes', () => {
    const everything = decodeModelProto(sinkBytes).graph!.node.find((n) => n.opType === 'Everything')!;
    const a = new Map(everything.attribute.map((x) => [x.name, x]));
    expect(new Set(everything.attribute.map((x) => x.type))).toEqual(
      new Set([
        AttrType.FLOAT,
        AttrType.INT,
        AttrType.STRING,
        AttrType.TENSOR,
        AttrType.GRAPH,
        AttrType.FLOATS,
        AttrType.INTS,
        AttrType.STRINGS,
        AttrType.TENSORS,
        AttrType.GRAPHS,
        AttrType.SPARSE_TENSOR,
        AttrType.SPARSE_TENSORS,
        AttrType.TYPE_PROTO,
        AttrType.TYPE_PROTOS,
      ]),
    );
    expect(a.get('f')!.f).toBe(0.25);
    expect(a.get('f_small')!.f).toBe(Math.fround(-3.5e-8));
    expect([a.get('i')!.i, a.get('i_neg')!.i, a.get('i_max')!.i, a.get('i_min')!.i]).toEqual([
      42n,
      -1n,
      INT64_MAX,
      INT64_MIN,
    ]);
    expect(a.get('ints')!.ints).toEqual([-1n, 0n, INT64_MAX, INT64_MIN, 2n ** 53n + 1n]);
    expect(a.get('floats')!.floats.map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual([
      1.5,
      '-0',
      Infinity,
      -2.75,
    ]);
    expect(new TextDecoder().decode(a.get('s')!.s)).toBe('héllo');
    expect(Array.from(a.get('s_bytes')!.s)).toEqual([0xff, 0x00, 0xfe]);
    expect(a.get('strings')!.strings.map((s) => new TextDecoder().decode(s))).toEqual(['a', '', 'ü']);
    expect(Array.from(tensorToFloat64(a.get('t')!.t!))).toEqual([1, -2]);
    expect(a.get('g')!.g!.node[0].opType).toBe('Relu');
    expect(a.get('graphs')!.graphs.map((g) => g.node[0].opType)).toEqual(['Neg', 'Abs']);
    expect(a.get('tensors')!.tensors.map((t) => t.dataType)).toEqual([DataType.STRING, DataType.INT4]);
    expect(Array.from(tensorToFloat64(a.get('sparse')!.sparseTensor!.values!))).toEqual([1, -2]);
    expect(a.get('sparse')!.sparseTensor!.dims).toEqual([2n, 4n]);
    expect(a.get('sparses')!.sparseTensors).toHaveLength(2);
    expect(a.get('tp')!.tp!.value.case).toBe('sequenceType');
    expect(a.get('tps')!.typeProtos.map((t) => t.value.case)).toEqual([
      'sequenceType',
      'mapType',
      'optionalType',
      'opaqueType',
      'sparseTensorType',
    ]);
    expect(a.get('documented')!.docString).toBe('an attribute with a doc string');
    expect(everything.metadataProps).toMatchObject([{ key: 'node.meta', value: 'kept' }]);
    expect(everything.deviceConfigurations[0].shardingSpec[0].shardedDim[0].simpleSharding[0].numShards).toBe(
      2n,
    );
  });

  it('keeps functions (with ref_attr_name), training_info, metadata, sparse initializers and external data entries', () => {
    const m = decodeModelProto(sinkBytes);
    const fn = m.functions[0];
    expect([fn.domain, fn.name, fn.attribute, fn.input, fn.output]).toEqual([
      'whittle.fn',
      'ScaledAdd',
      ['scale'],
      ['a', 'b'],
      ['out'],
    ]);
    expect(fn.node[0].attribute[0]).toMatchObject({
      name: 'value_float',
      refAttrName: 'scale',
      type: AttrType.FLOAT,
    });
    expect(fn.attributeProto[0]).toMatchObject({ name: 'bias', type: AttrType.FLOAT });
    expect(m.trainingInfo[0].initialization!.node[0].opType).toBe('RandomNormal');
    expect(m.trainingInfo[0].updateBinding).toMatchObject([{ key: 'raw_float', value: 'x_next' }]);
    expect(m.metadataProps.map((e) => [e.key, e.value])).toEqual([
      ['author', 'whittle'],
      ['ünicode', '✓'],
    ]);
    expect(m.configuration[0]).toMatchObject({ name: 'cfg', numDevices: 2, device: ['cpu:0', 'cpu:1'] });
    const g = m.graph!;
    expect(g.metadataProps[0]).toMatchObject({ key: 'graph.meta', value: 'kept' });
    expect(g.quantizationAnnotation[0].quantParameterTensorNames[0].value).toBe('y_scale');
    expect(g.sparseInitializer[0].indices!.int64Data).toEqual([0n, 5n, 15n]);
    const ext = g.initializer.find((t) => t.name === 'external_w')!;
    expect(ext.dataLocation).toBe(TensorProto_DataLocation.EXTERNAL);
    expect(ext.externalData.map((e) => [e.key, e.value])).toEqual([
      ['location', 'weights.bin'],
      ['offset', '4096'],
      ['length', '1024'],
      ['checksum', '0123456789abcdef0123456789abcdef01234567'],
    ]);
    expect(g.initializer.find((t) => t.name === 'segmented')!.segment).toMatchObject({ begin: 0n, end: 2n });
    const x = g.input[0];
    expect(x.type!.denotation).toBe('TENSOR');
    const shape = x.type!.value.case === 'tensorType' ? x.type!.value.value.shape!.dim : [];
    expect(shape.map((d) => [d.value.value, d.denotation])).toEqual([
      ['N', 'DATA_BATCH'],
      [4n, 'DATA_FEATURE'],
    ]);
  });

  it('gives the IR every subgraph: If branches, the Loop body, GRAPH and GRAPHS attributes', () => {
    const m = Model.decode(sinkBytes);
    const subgraphs = (op: string) =>
      m.graph.nodes
        .find((n) => n.opType === op)!
        .subgraphs.map((s) => [s.attribute, s.graphs.map((g) => g.name)]);
    expect(subgraphs('If')).toEqual([
      ['then_branch', ['then']],
      ['else_branch', ['else']],
    ]);
    expect(subgraphs('Loop')).toEqual([['body', ['body']]]);
    expect(subgraphs('Everything')).toEqual([
      ['g', ['g']],
      ['graphs', ['g0', 'g1']],
    ]);
    expect([...m.graph.allGraphs()].map((g) => g.name)).toEqual([
      'main',
      'g',
      'g0',
      'g1',
      'then',
      'else',
      'body',
    ]);
    // Branches read `x` from the main graph, so the If node depends on it.
    const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
    expect(ifNode.reads()).toEqual(['cond', 'x', 'x']);
    expect(m.graph.consumers('x').map((n) => n.opType)).toEqual(['Everything', 'If', 'Loop']);
  });

  it('round-trips each element type as a lone TensorProto (the .pb form), raw and typed', () => {
    for (const f of dtypeFixtures) {
      for (const t of f.raw ? [rawTensor(f), typedTensor(f)] : [typedTensor(f)]) {
        const bytes = encodeTensorProto(t);
        expect(same(encodeTensorProto(decodeTensorProto(bytes)), bytes), t.name).toBe(true);
      }
    }
  });

  it('keeps quiet-NaN payloads in float_data and every double_data bit', () => {
    const tensorWith = (field: number, dataType: number, payload: Uint8Array) => {
      const w = new BinaryWriter();
      w.tag(1, WireType.Varint).int64(BigInt(payload.byteLength / (field === 4 ? 4 : 8)));
      w.tag(2, WireType.Varint).int32(dataType);
      w.tag(field, WireType.LengthDelimited).bytes(payload);
      return w.finish();
    };
    const floats = tensorWith(
      4,
      DataType.FLOAT,
      new Uint8Array(new Uint32Array([0x7fc00001, 0xffc00000, 0x7fffffff]).buffer),
    );
    expect(same(encodeTensorProto(decodeTensorProto(floats)), floats)).toBe(true);
    const doubles = tensorWith(
      10,
      DataType.DOUBLE,
      new Uint8Array(
        new BigUint64Array([0x7ff8000000000001n, 0xfff0000000000001n, 0x7ff0000000000001n]).buffer,
      ),
    );
    expect(same(encodeTensorProto(decodeTensorProto(doubles)), doubles)).toBe(true);
    // Known limit: a signalling float32 NaN in float_data comes back quieted (JavaScript converts
    // float32 through float64, which sets the quiet bit). raw_data keeps every bit.
    const signalling = tensorWith(4, DataType.FLOAT, new Uint8Array(new Uint32Array([0x7f800001]).buffer));
    expect(Buffer.from(encodeTensorProto(decodeTensorProto(signalling)).subarray(-4)).toString('hex')).toBe(
      '0100c07f',
    );
  });
});

describe('codec: unknown fields survive', () => {
  // Paths (field numbers) into ModelProto: graph 7, node 1, attribute 5, g 6, initializer 5, input 11,
  // type 2, tensor_type 1, shape 2, dim 1, opset_import 8, functions 25, training_info 20, algorithm 2,
  // sparse_initializer 15, values 1, metadata_props 14.
  const places: Record<string, FieldStep[]> = {
    ModelProto: [],
    GraphProto: [{ field: 7 }],
    'NodeProto (Everything)': [{ field: 7 }, { field: 1 }],
    'AttributeProto (first of Everything)': [{ field: 7 }, { field: 1 }, { field: 5 }],
    'TensorProto inside a TENSORS attribute': [
      { field: 7 },
      { field: 1 },
      { field: 5, index: 13 },
      { field: 10 },
    ],
    'NodeProto inside the If then_branch': [
      { field: 7 },
      { field: 1, index: 1 },
      { field: 5 },
      { field: 6 },
      { field: 1 },
    ],
    'TensorProto initializer': [{ field: 7 }, { field: 5, index: 3 }],
    'TensorShapeProto.Dimension of an input': [
      { field: 7 },
      { field: 11 },
      { field: 2 },
      { field: 1 },
      { field: 2 },
      { field: 1 },
    ],
    OperatorSetIdProto: [{ field: 8, index: 2 }],
    'NodeProto in a FunctionProto': [{ field: 25 }, { field: 7 }],
    'GraphProto of training_info': [{ field: 20 }, { field: 2 }],
    'TensorProto of a sparse initializer': [{ field: 7 }, { field: 15 }, { field: 1 }],
    StringStringEntryProto: [{ field: 14, index: 1 }],
  };

  Object.entries(places).forEach(([where, steps], k) => {
    it(`in ${where}`, () => {
      const extra = unknownFields(k);
      const bytes = appendToMessage(sinkBytes, steps, extra);
      expect(bytes.byteLength).toBeGreaterThanOrEqual(sinkBytes.byteLength + extra.byteLength);
      expect(containsBytes(bytes, extra)).toBe(true);
      expectRoundTrips(bytes);
    });
  });

  it('all at once, and through IR edits elsewhere in the model', () => {
    let bytes = sinkBytes;
    const extras = Object.values(places).map((steps, k) => {
      const extra = unknownFields(100 + k);
      bytes = appendToMessage(bytes, steps, extra);
      return extra;
    });
    expectRoundTrips(bytes);
    const m = Model.decode(bytes);
    expect(m.proto.$unknown?.map((u) => u.no)).toEqual([9100, 9200, 9300, 9400]);
    const thenNode = m.graph.nodes[1].subgraphs[0].graphs[0].nodes[0];
    expect(thenNode.proto.$unknown?.map((u) => u.no)).toEqual([9105, 9205, 9305, 9405]);
    const dim = m.graph.inputs[0].type!.value.value as { shape?: { dim: { $unknown?: unknown[] }[] } };
    expect(dim.shape!.dim[0].$unknown).toHaveLength(4);
    // Edit the main graph: add a node and rename the graph output it feeds.
    m.graph.insertAfter('y', { opType: 'Identity', outputs: ['y_copy'] });
    const edited = m.encode();
    expect(same(edited, bytes)).toBe(false);
    for (const extra of extras) expect(containsBytes(edited, extra)).toBe(true);
    expect(decodeModelProto(edited).graph!.node.at(-1)!.opType).toBe('Identity');
  });

  it.skipIf(!hasPythonOnnx)('are kept exactly where protobuf itself keeps them (python3-onnx agrees)', () => {
    let bytes = sinkBytes;
    Object.values(places).forEach(
      (steps, k) => (bytes = appendToMessage(bytes, steps, unknownFields(200 + k))),
    );
    expect(same(pythonReserialize(bytes), bytes)).toBe(true);
  });
});

describe('codec: bad input is refused with a message saying what is wrong', () => {
  const refuses = (bytes: Uint8Array, message: RegExp | string) => {
    let error: unknown;
    try {
      decodeModelProto(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OnnxFormatError);
    expect((error as Error).message).toMatch(message);
    // The IR entry point gives the same error.
    expect(() => Model.decode(bytes)).toThrow(OnnxFormatError);
  };

  it('empty file', () => refuses(new Uint8Array(0), 'The file is empty (0 bytes).'));

  it('PNG, JPEG, ZIP, gzip, PDF, pickle and other formats by their magic bytes', () => {
    const png = Uint8Array.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
    ]);
    refuses(png, 'This is a PNG image, not an ONNX model.');
    refuses(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), 'This is a JPEG image, not an ONNX model.');
    refuses(Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0]), /ZIP archive \(unzip it first\)/);
    refuses(Uint8Array.from([0x1f, 0x8b, 8, 0]), /gzip-compressed/);
    refuses(new TextEncoder().encode('%PDF-1.7\n'), /PDF document/);
    refuses(Uint8Array.from([0x80, 0x02, 0x7d, 0x71]), /Python pickle/);
    refuses(Uint8Array.from([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33]), /TensorFlow Lite model/);
  });

  it('JSON and other text', () => {
    refuses(
      new TextEncoder().encode('{"ir_version": 8, "graph": {}}'),
      'This is a JSON/text file, not an ONNX model.',
    );
    refuses(new TextEncoder().encode('[1, 2, 3]'), /JSON\/text file/);
    refuses(
      new TextEncoder().encode('ir_version: 8\ngraph { name: "g" }'),
      /does not start like an ONNX model/,
    );
  });

  it('a model cut short at many offsets', () => {
    const cuts = [
      1,
      3,
      16,
      100,
      1000,
      sinkBytes.byteLength >> 1,
      sinkBytes.byteLength - 10,
      sinkBytes.byteLength - 1,
    ];
    for (const cut of cuts)
      refuses(
        sinkBytes.subarray(0, cut),
        /truncated or corrupt: its protobuf data ends early|contains no graph/,
      );
    refuses(
      sinkBytes.subarray(0, 1000),
      `The model file is truncated or corrupt: its protobuf data ends early (1000 bytes read).`,
    );
  });

  it.skipIf(!hasSharedModels)('a real model (mnist-8) cut short', () => {
    const bytes = readBytes(path.join(sharedModelsDir, 'mnist-8.onnx'));
    for (const fraction of [0.1, 0.5, 0.9, 0.999])
      refuses(bytes.subarray(0, Math.floor(bytes.byteLength * fraction)), /truncated or corrupt/);
  });

  it('random bytes', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = seededRandom(seed);
      const bytes = Uint8Array.from({ length: 64 + seed * 13 }, () => Math.floor(rand() * 256));
      refuses(
        bytes,
        /not an ONNX model|does not start like an ONNX model|truncated or corrupt|not a valid ONNX protobuf/,
      );
    }
  });

  it('protobuf that is not a model: a TensorProto, a model without graph, opset or IR version', () => {
    refuses(encodeTensorProto(rawTensor(dtypeFixtures[0])), /not a valid ONNX protobuf/);
    const noGraph = toBinary(
      ModelProtoSchema,
      create(ModelProtoSchema, { irVersion: 8n, producerName: 'x' }),
    );
    refuses(noGraph, 'The file decodes as protobuf but contains no graph: not an ONNX model.');
    const withoutOpset: ModelProto = { ...kitchenSinkModel(), opsetImport: [] };
    refuses(encodeModelProto(withoutOpset), /imports no operator set \(opset_import is empty\)/);
    const withoutIr: ModelProto = { ...kitchenSinkModel(), irVersion: 0n };
    refuses(encodeModelProto(withoutIr), /has no IR version/);
  });

  it('a .pb that is not a TensorProto', () => {
    expect(() => decodeTensorProto(Uint8Array.from([0x0f, 0xff, 0xff]))).toThrow(/Not a valid TensorProto/);
  });

  it('sniffNotOnnx lets real model starts through', () => {
    expect(sniffNotOnnx(sinkBytes)).toBeUndefined();
  });
});
