import { create, isMessage } from '@bufbuild/protobuf';
import {
  type AttributeProto,
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttrType,
  type GraphProto,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  type TensorProto,
  TensorProtoSchema,
  TensorProto_DataLocation,
  type ValueInfoProto,
  ValueInfoProtoSchema,
  type TypeProto,
  TypeProtoSchema,
} from './proto/onnx_pb';
import { Model, type Dim } from './ir';
import { makeTensor } from './tensor';
import type { TypedArray } from './dtype';
import { encodeModelProto } from './codec';

/** Explicitly typed attribute values, for when a JS value alone is ambiguous (1 as float, [] as ints). */
export const attr = {
  float: (v: number) => ({ kind: 'float' as const, v }),
  floats: (v: number[]) => ({ kind: 'floats' as const, v }),
  int: (v: number | bigint) => ({ kind: 'int' as const, v }),
  ints: (v: (number | bigint)[]) => ({ kind: 'ints' as const, v }),
  string: (v: string) => ({ kind: 'string' as const, v }),
  strings: (v: string[]) => ({ kind: 'strings' as const, v }),
  typeProto: (v: TypeProto) => ({ kind: 'tp' as const, v }),
  typeProtos: (v: TypeProto[]) => ({ kind: 'tps' as const, v }),
  tensors: (v: TensorProto[]) => ({ kind: 'tensors' as const, v }),
  graphs: (v: GraphProto[]) => ({ kind: 'graphs' as const, v }),
};
type Tagged = ReturnType<(typeof attr)[keyof typeof attr]>;

/**
 * An attribute value: integers become INT(S), other numbers FLOAT(S), strings STRING(S), tensors
 * TENSOR, graphs GRAPH; wrap with {@link attr} to force a kind.
 */
export type AttrValue = number | bigint | string | number[] | string[] | TensorProto | GraphProto | Tagged;

const enc = new TextEncoder();

export function makeAttr(name: string, value: AttrValue): AttributeProto {
  const mk = (init: Parameters<typeof create<typeof AttributeProtoSchema>>[1]) =>
    create(AttributeProtoSchema, { name, ...init });
  if (typeof value === 'bigint') return mk({ type: AttrType.INT, i: value });
  if (typeof value === 'number')
    return Number.isInteger(value)
      ? mk({ type: AttrType.INT, i: BigInt(value) })
      : mk({ type: AttrType.FLOAT, f: value });
  if (typeof value === 'string') return mk({ type: AttrType.STRING, s: enc.encode(value) });
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string')
      return mk({ type: AttrType.STRINGS, strings: (value as string[]).map((s) => enc.encode(s)) });
    const nums = value as number[];
    return nums.every(Number.isInteger)
      ? mk({ type: AttrType.INTS, ints: nums.map(BigInt) })
      : mk({ type: AttrType.FLOATS, floats: nums });
  }
  if (isMessage(value, TensorProtoSchema)) return mk({ type: AttrType.TENSOR, t: value });
  if (isMessage(value, GraphProtoSchema)) return mk({ type: AttrType.GRAPH, g: value });
  switch (value.kind) {
    case 'float':
      return mk({ type: AttrType.FLOAT, f: value.v });
    case 'floats':
      return mk({ type: AttrType.FLOATS, floats: value.v });
    case 'int':
      return mk({ type: AttrType.INT, i: BigInt(value.v) });
    case 'ints':
      return mk({ type: AttrType.INTS, ints: value.v.map(BigInt) });
    case 'string':
      return mk({ type: AttrType.STRING, s: enc.encode(value.v) });
    case 'strings':
      return mk({ type: AttrType.STRINGS, strings: value.v.map((s) => enc.encode(s)) });
    case 'tp':
      return mk({ type: AttrType.TYPE_PROTO, tp: value.v });
    case 'tps':
      return mk({ type: AttrType.TYPE_PROTOS, typeProtos: value.v });
    case 'tensors':
      return mk({ type: AttrType.TENSORS, tensors: value.v });
    case 'graphs':
      return mk({ type: AttrType.GRAPHS, graphs: value.v });
  }
}

/** A tensor whose data sits in an external-data file at `location`, bytes `offset` to `offset + length`. */
export function externalTensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  location: string,
  offset: number,
  length: number,
): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType,
    dims: dims.map(BigInt),
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  });
}

/** A tensor type with a shape; string dims are symbolic, undefined dims unknown. */
export function tensorType(elemType: number, shape?: readonly Dim[]): TypeProto {
  return create(TypeProtoSchema, {
    value: {
      case: 'tensorType',
      value: {
        elemType,
        shape: shape
          ? {
              dim: shape.map((d) =>
                typeof d === 'number'
                  ? { value: { case: 'dimValue' as const, value: BigInt(d) } }
                  : typeof d === 'string'
                    ? { value: { case: 'dimParam' as const, value: d } }
                    : {},
              ),
            }
          : undefined,
      },
    },
  });
}

export function valueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, { name, type: tensorType(elemType, shape) });
}

/**
 * Builds graphs and models in code, for tests and the bundled samples:
 * `const b = new GraphBuilder(); const x = b.input('x', DataType.FLOAT, [1, 4]); ...; b.model()`.
 */
export class GraphBuilder {
  private nodes: ReturnType<typeof create<typeof NodeProtoSchema>>[] = [];
  private inits: TensorProto[] = [];
  private ins: ValueInfoProto[] = [];
  private outs: ValueInfoProto[] = [];
  private infos: ValueInfoProto[] = [];
  private counter = 0;

  constructor(readonly name = 'graph') {}

  input(name: string, elemType: number, shape?: readonly Dim[]): string {
    this.ins.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: number, shape?: readonly Dim[]): string {
    this.outs.push(valueInfo(name, elemType, shape));
    return name;
  }

  /** Declare a value's type in value_info (intermediate tensors). */
  info(name: string, elemType: number, shape?: readonly Dim[]): string {
    this.infos.push(valueInfo(name, elemType, shape));
    return name;
  }

  initializer(
    name: string,
    elemType: number,
    dims: readonly number[],
    data: TypedArray | readonly number[],
  ): string {
    this.inits.push(makeTensor(name, elemType, dims, data));
    return name;
  }

  /** Add a ready-made tensor (e.g. one with typed fields or external data) as an initializer. */
  tensor(t: TensorProto): string {
    this.inits.push(t);
    return t.name;
  }

  /**
   * Add a node. Returns its output names: `outputs` may be a count (names are generated from the
   * node name) or explicit names.
   */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttrValue> = {},
    options: { outputs?: number | string[]; name?: string; domain?: string } = {},
  ): string[] {
    const name = options.name ?? `${opType}_${this.counter++}`;
    const outputs =
      typeof options.outputs === 'object'
        ? options.outputs
        : Array.from({ length: options.outputs ?? 1 }, (_, i) => `${name}_out${i}`);
    this.nodes.push(
      create(NodeProtoSchema, {
        opType,
        name,
        domain: options.domain ?? '',
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([k, v]) => makeAttr(k, v)),
      }),
    );
    return outputs;
  }

  /** Same as {@link node} for single-output nodes. */
  op(opType: string, inputs: string[], attributes: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(opType, inputs, attributes, { name })[0];
  }

  graph(): GraphProto {
    return create(GraphProtoSchema, {
      name: this.name,
      node: this.nodes,
      initializer: this.inits,
      input: this.ins,
      output: this.outs,
      valueInfo: this.infos,
    });
  }

  model(options: ModelOptions = {}): Model {
    return new Model(buildModelProto(this.graph(), options));
  }

  bytes(options: ModelOptions = {}): Uint8Array {
    return encodeModelProto(buildModelProto(this.graph(), options));
  }
}

export interface ModelOptions {
  /** Default-domain opset version (default 17). */
  opset?: number;
  /** Extra opset imports, e.g. { 'com.microsoft': 1 }. */
  opsets?: Record<string, number>;
  irVersion?: number;
  producer?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export function buildModelProto(graph: GraphProto, options: ModelOptions = {}) {
  return create(ModelProtoSchema, {
    irVersion: BigInt(options.irVersion ?? 8),
    producerName: options.producer ?? 'whittle',
    producerVersion: options.producerVersion ?? '0.1.0',
    docString: options.docString,
    graph,
    opsetImport: [
      { domain: '', version: BigInt(options.opset ?? 17) },
      ...Object.entries(options.opsets ?? {}).map(([domain, v]) => ({ domain, version: BigInt(v) })),
    ],
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}
