// Builds one ONNX graph: named inputs/outputs, nodes with stable names, constants created once
// by name, and large initializers streamed to an external data file. Serialized with onnx-proto.
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';
import type { ExternalDataWriter, ExternalRef } from './external-data.ts';

const require = createRequire(import.meta.url);
const { onnx } = require('onnx-proto') as { onnx: typeof OnnxNs };

export const DT = onnx.TensorProto.DataType;
export type DataType = OnnxNs.TensorProto.DataType;
export type Dim = number | string;
export type AttrValue = number | string | number[] | { floats: number[] } | { float: number } | OnnxNs.ITensorProto;

export interface NodeOptions {
  name: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

/** Tensors this small stay inside the model file; the rest go to external data. */
export const INLINE_LIMIT = 1024;

export class GraphBuilder {
  private readonly nodes: OnnxNs.INodeProto[] = [];
  private readonly inputs: OnnxNs.IValueInfoProto[] = [];
  private readonly outputs: OnnxNs.IValueInfoProto[] = [];
  private readonly initializers: OnnxNs.ITensorProto[] = [];
  private readonly known = new Set<string>();
  private readonly usedNodeNames = new Set<string>();

  /** Without a data writer the graph must be small: every tensor stays inline. */
  constructor(readonly graphName: string, private readonly data?: ExternalDataWriter) {}

  input(name: string, type: DataType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: DataType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  has(name: string): boolean {
    return this.known.has(name);
  }

  /** A weight: float32 values written to external data (or inline if tiny). Created once by name. */
  weight(name: string, values: Float32Array, dims: number[]): string {
    return this.tensor(name, DT.FLOAT, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), dims);
  }

  /** Raw bytes of any element type (quantized weights, scales). Created once by name. */
  tensor(name: string, type: DataType, bytes: Uint8Array, dims: number[]): string {
    if (this.known.has(name)) return name;
    this.known.add(name);
    const t: OnnxNs.ITensorProto = { name, dataType: type, dims };
    if (bytes.byteLength <= INLINE_LIMIT || !this.data) {
      t.rawData = bytes.slice();
    } else {
      const ref = this.data.append(bytes);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = externalData(ref);
    }
    this.initializers.push(t);
    return name;
  }

  /** A weight whose bytes are already in an external data file (a streamed conversion). Created once by name. */
  external(name: string, type: DataType, dims: number[], ref: ExternalRef): string {
    if (this.known.has(name)) return name;
    this.known.add(name);
    this.initializers.push({
      name, dataType: type, dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: externalData(ref),
    });
    return name;
  }

  /** A small int64 constant, deduplicated by its values. */
  ints(values: number[], dims: number[] = [values.length]): string {
    const name = `/const/i64/${dims.join('x')}/${values.join('_')}`;
    const bytes = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
    return this.tensor(name, DT.INT64, bytes, dims);
  }

  /** A small float32 constant, deduplicated by its values. */
  floats(values: number[], dims: number[] = [values.length]): string {
    const name = `/const/f32/${dims.join('x')}/${values.join('_')}`;
    return this.weight(name, Float32Array.from(values), dims);
  }

  /** Adds a node; returns its output names (`count` of them, named `${name}/output_${k}`). */
  node(op: string, inputs: string[], opts: NodeOptions, count = 1): string[] {
    if (this.usedNodeNames.has(opts.name)) throw new Error(`duplicate node name ${opts.name}`);
    this.usedNodeNames.add(opts.name);
    const outputs = Array.from({ length: count }, (_, k) => `${opts.name}/output_${k}`);
    this.nodes.push({
      name: opts.name,
      opType: op,
      domain: opts.domain ?? '',
      input: inputs,
      output: outputs,
      attribute: Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Single-output shorthand. */
  op(op: string, inputs: string[], opts: NodeOptions): string {
    return this.node(op, inputs, opts, 1)[0];
  }

  /** Renames a value to a graph output name through an Identity node. */
  bindOutput(value: string, name: string, type: DataType, dims: Dim[]): void {
    this.nodes.push({ name: `/output/${name}`, opType: 'Identity', domain: '', input: [value], output: [name] });
    this.output(name, type, dims);
  }

  serialize(opsets: Record<string, number>): Uint8Array {
    const model: OnnxNs.IModelProto = {
      irVersion: 8,
      producerName: 'photo-assistant',
      producerVersion: '0.1.0',
      opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}

function externalData(ref: ExternalRef): OnnxNs.IStringStringEntryProto[] {
  return [
    { key: 'location', value: ref.location },
    { key: 'offset', value: String(ref.offset) },
    { key: 'length', value: String(ref.length) },
  ];
}

function valueInfo(name: string, type: DataType, dims: Dim[]): OnnxNs.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: type,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): OnnxNs.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('floats' in v && Array.isArray(v.floats)) return { name, type: A.FLOATS, floats: v.floats };
  if ('float' in v && typeof v.float === 'number') return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.TENSOR, t: v as OnnxNs.ITensorProto };
}
