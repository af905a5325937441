import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { attr, makeAttr, tensorType, valueInfo } from '../builder';
import { DataType } from '../dtype';
import { AttrType, makeAttribute } from '../ir';
import {
  type GraphProto,
  GraphProtoSchema,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  type SparseTensorProto,
  SparseTensorProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  type TypeProto,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from '../proto/onnx_pb';
import { makeTensor } from '../tensor';
import { dtypeFixtures, rawTensor, typedTensor } from './dtypeFixtures';

export const INT64_MAX = 2n ** 63n - 1n;
export const INT64_MIN = -(2n ** 63n);

function node(
  opType: string,
  input: string[],
  output: string[],
  extra: MessageInitShape<typeof NodeProtoSchema> = {},
): NodeProto {
  return create(NodeProtoSchema, { opType, input, output, name: `${opType}_${output[0]}`, ...extra });
}

function graph(name: string, init: MessageInitShape<typeof GraphProtoSchema>): GraphProto {
  return create(GraphProtoSchema, { name, ...init });
}

function sparse(name: string, values: number[], coordinates: bigint[], dims: bigint[]): SparseTensorProto {
  return create(SparseTensorProtoSchema, {
    values: makeTensor(name, DataType.FLOAT, [values.length], Float32Array.from(values)),
    indices: create(TensorProtoSchema, {
      name: `${name}_indices`,
      dataType: DataType.INT64,
      dims: [BigInt(values.length)],
      int64Data: coordinates,
    }),
    dims,
  });
}

const typeProtos: TypeProto[] = [
  create(TypeProtoSchema, {
    value: { case: 'sequenceType', value: { elemType: tensorType(DataType.FLOAT, ['N', 3]) } },
    denotation: 'TENSOR_SEQUENCE',
  }),
  create(TypeProtoSchema, {
    value: {
      case: 'mapType',
      value: { keyType: DataType.INT64, valueType: tensorType(DataType.FLOAT, [1]) },
    },
  }),
  create(TypeProtoSchema, {
    value: {
      case: 'optionalType',
      value: {
        elemType: create(TypeProtoSchema, {
          value: { case: 'sequenceType', value: { elemType: tensorType(DataType.INT64, []) } },
        }),
      },
    },
  }),
  create(TypeProtoSchema, { value: { case: 'opaqueType', value: { domain: 'whittle', name: 'Blob' } } }),
  create(TypeProtoSchema, {
    value: {
      case: 'sparseTensorType',
      value: { elemType: DataType.FLOAT, shape: { dim: [{ value: { case: 'dimValue', value: 4n } }] } },
    },
  }),
];

/** then/else/body graphs that read `x` from the enclosing graph. */
function branch(name: string, op: string): GraphProto {
  return graph(name, {
    node: [node(op, ['x'], [`${name}_y`])],
    output: [valueInfo(`${name}_y`, DataType.FLOAT, ['N', 4])],
  });
}

/**
 * Every attribute kind in one node: FLOAT, INT (negative, INT64_MAX, INT64_MIN), STRING (UTF-8 and
 * arbitrary bytes), TENSOR, GRAPH, FLOATS, INTS, STRINGS, TENSORS, GRAPHS, SPARSE_TENSOR(S),
 * TYPE_PROTO(S), plus a doc string.
 */
function everyAttributeKind(): NodeProto {
  const attributes = [
    makeAttr('f', attr.float(0.25)),
    makeAttr('f_small', attr.float(-3.5e-8)),
    makeAttr('i', 42),
    makeAttr('i_neg', -1),
    makeAttr('i_max', attr.int(INT64_MAX)),
    makeAttr('i_min', attr.int(INT64_MIN)),
    makeAttr('s', 'héllo'),
    makeAttribute({ name: 's_bytes', type: AttrType.STRING, s: Uint8Array.from([0xff, 0x00, 0xfe]) }),
    makeAttr('t', makeTensor('t', DataType.FLOAT16, [2], Uint16Array.from([0x3c00, 0xc000]))),
    makeAttr('g', branch('g', 'Relu')),
    makeAttr('floats', attr.floats([1.5, -0, Infinity, -2.75])),
    makeAttr('ints', attr.ints([-1n, 0n, INT64_MAX, INT64_MIN, 2n ** 53n + 1n])),
    makeAttr('strings', ['a', '', 'ü']),
    makeAttr(
      'tensors',
      attr.tensors([typedTensor(dtypeFixtures[7], 'str'), rawTensor(dtypeFixtures[21], 'i4')]),
    ),
    makeAttr('graphs', attr.graphs([branch('g0', 'Neg'), branch('g1', 'Abs')])),
    makeAttribute({
      name: 'sparse',
      type: AttrType.SPARSE_TENSOR,
      sparseTensor: sparse('sp', [1, -2], [1n, 6n], [2n, 4n]),
    }),
    makeAttribute({
      name: 'sparses',
      type: AttrType.SPARSE_TENSORS,
      sparseTensors: [sparse('sp0', [3], [0n], [4n]), sparse('sp1', [5, 6], [1n, 3n], [4n])],
    }),
    makeAttr('tp', attr.typeProto(typeProtos[0])),
    makeAttr('tps', attr.typeProtos(typeProtos)),
    makeAttribute({
      name: 'documented',
      type: AttrType.INT,
      i: 7n,
      docString: 'an attribute with a doc string',
    }),
  ];
  return node('Everything', ['x'], ['everything_out'], {
    domain: 'whittle.test',
    attribute: attributes,
    docString: 'a node with one attribute of every kind',
    metadataProps: [{ key: 'node.meta', value: 'kept' }],
    deviceConfigurations: [
      {
        configurationId: 'cfg',
        pipelineStage: 1,
        shardingSpec: [
          {
            tensorName: 'x',
            device: [0n, 1n],
            indexToDeviceGroupMap: [{ key: 0n, value: [0n, 1n] }],
            shardedDim: [
              { axis: 0n, simpleSharding: [{ dim: { case: 'dimParam', value: 'N' }, numShards: 2n }] },
            ],
          },
        ],
      },
    ],
  });
}

/**
 * A model that uses every part of ONNX's ModelProto schema: every element type as initializers in
 * raw_data and typed-field form, an external-data entry, sparse initializers, every attribute kind,
 * If/Loop subgraphs, a model-local FunctionProto whose node uses ref_attr_name, value_info with
 * symbolic and denoted dims, quantization annotations, metadata at model/graph/node/value level,
 * training_info and device configurations. It is for the codec, not for running.
 */
export function kitchenSinkModel(): ModelProto {
  const initializers = dtypeFixtures.flatMap((f) =>
    f.raw ? [rawTensor(f), typedTensor(f)] : [typedTensor(f)],
  );
  initializers.push(
    create(TensorProtoSchema, {
      name: 'external_w',
      dataType: DataType.FLOAT,
      dims: [16n, 16n],
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: '4096' },
        { key: 'length', value: '1024' },
        { key: 'checksum', value: '0123456789abcdef0123456789abcdef01234567' },
      ],
      docString: 'weights stored outside the model file',
      metadataProps: [{ key: 'tensor.meta', value: 'kept' }],
    }),
    create(TensorProtoSchema, {
      name: 'segmented',
      dataType: DataType.FLOAT,
      dims: [2n],
      segment: { begin: 0n, end: 2n },
      floatData: [1, 2],
    }),
  );
  const ifNode = node('If', ['cond'], ['if_out'], {
    attribute: [
      makeAttr('then_branch', branch('then', 'Relu')),
      makeAttr('else_branch', branch('else', 'Neg')),
    ],
  });
  const loopBody = graph('body', {
    node: [node('Identity', ['cond_in'], ['cond_out']), node('Add', ['carried_in', 'x'], ['carried_out'])],
    input: [
      valueInfo('iter', DataType.INT64, []),
      valueInfo('cond_in', DataType.BOOL, []),
      valueInfo('carried_in', DataType.FLOAT, ['N', 4]),
    ],
    output: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('carried_out', DataType.FLOAT, ['N', 4])],
  });
  const loopNode = node('Loop', ['trip', 'cond', 'x'], ['loop_out'], {
    attribute: [makeAttr('body', loopBody)],
  });
  const callNode = node('ScaledAdd', ['if_out', 'loop_out'], ['y'], {
    domain: 'whittle.fn',
    attribute: [makeAttr('scale', attr.float(0.5))],
  });
  const shapeWithDenotation = create(TypeProtoSchema, {
    value: {
      case: 'tensorType',
      value: {
        elemType: DataType.FLOAT,
        shape: {
          dim: [
            { value: { case: 'dimParam', value: 'N' }, denotation: 'DATA_BATCH' },
            { value: { case: 'dimValue', value: 4n }, denotation: 'DATA_FEATURE' },
          ],
        },
      },
    },
    denotation: 'TENSOR',
  });
  const main = graph('main', {
    node: [everyAttributeKind(), ifNode, loopNode, callNode],
    initializer: initializers,
    sparseInitializer: [sparse('sparse_w', [0.5, -1.5, 2], [0n, 5n, 15n], [4n, 4n])],
    input: [
      create(ValueInfoProtoSchema, {
        name: 'x',
        type: shapeWithDenotation,
        docString: 'the input',
        metadataProps: [{ key: 'value.meta', value: 'kept' }],
      }),
      valueInfo('cond', DataType.BOOL, []),
      valueInfo('trip', DataType.INT64, []),
    ],
    output: [
      valueInfo('y', DataType.FLOAT, ['N', 4]),
      valueInfo('everything_out', DataType.FLOAT, [undefined]),
    ],
    valueInfo: [
      valueInfo('if_out', DataType.FLOAT, ['N', 4]),
      valueInfo('loop_out', DataType.FLOAT, ['N', 4]),
    ],
    quantizationAnnotation: [
      { tensorName: 'y', quantParameterTensorNames: [{ key: 'SCALE_TENSOR', value: 'y_scale' }] },
    ],
    metadataProps: [{ key: 'graph.meta', value: 'kept' }],
    docString: 'every part of the schema',
  });
  return create(ModelProtoSchema, {
    irVersion: 11n,
    producerName: 'whittle-tests',
    producerVersion: '1.0',
    domain: 'ai.whittle',
    modelVersion: 7n,
    docString: 'kitchen sink',
    graph: main,
    opsetImport: [
      { domain: '', version: 21n },
      { domain: 'whittle.test', version: 1n },
      { domain: 'whittle.fn', version: 1n },
      { domain: 'ai.onnx.ml', version: 3n },
    ],
    metadataProps: [
      { key: 'author', value: 'whittle' },
      { key: 'ünicode', value: '✓' },
    ],
    trainingInfo: [
      {
        initialization: graph('init', {
          node: [
            node('RandomNormal', [], ['w_init'], {
              attribute: [makeAttr('shape', attr.ints([4, 4])), makeAttr('seed', attr.float(1))],
            }),
          ],
          output: [valueInfo('w_init', DataType.FLOAT, [4, 4])],
        }),
        algorithm: graph('algorithm', {
          node: [node('Identity', ['x'], ['x_next'])],
          output: [valueInfo('x_next', DataType.FLOAT, ['N', 4])],
        }),
        initializationBinding: [{ key: 'raw_float', value: 'w_init' }],
        updateBinding: [{ key: 'raw_float', value: 'x_next' }],
      },
    ],
    functions: [
      {
        name: 'ScaledAdd',
        domain: 'whittle.fn',
        input: ['a', 'b'],
        output: ['out'],
        attribute: ['scale'],
        attributeProto: [makeAttr('bias', attr.float(0))],
        node: [
          node('Constant', [], ['s'], {
            attribute: [makeAttribute({ name: 'value_float', type: AttrType.FLOAT, refAttrName: 'scale' })],
          }),
          node('Mul', ['a', 's'], ['as']),
          node('Add', ['as', 'b'], ['out']),
        ],
        opsetImport: [{ domain: '', version: 21n }],
        valueInfo: [valueInfo('as', DataType.FLOAT, ['N', 4])],
        docString: 'out = a * scale + b',
        overload: '',
        metadataProps: [{ key: 'function.meta', value: 'kept' }],
      },
    ],
    configuration: [{ name: 'cfg', numDevices: 2, device: ['cpu:0', 'cpu:1'] }],
  });
}
