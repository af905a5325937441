"""Digests of ONNX test-value files computed by ONNX's own Python package (numpy_helper), to check
Whittle's TensorProto decoding against an independent implementation.

Reads a JSON list of {"path": ..., "kind": "tensor" | "sequence" | "optional"} on stdin and prints a JSON
object {path: [[elem_type, dims, sha256], ...]} with one entry per tensor the file holds. The sha256 is
taken over the elements as little-endian float64 (complex as interleaved real/imaginary parts, NaN as
the canonical quiet NaN) or, for strings, over each string's 4-byte length and bytes. tensor.test.ts
and conformance.test.ts compute the same digest from tensorToFloat64.
"""

import hashlib
import json
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def digest(t: onnx.TensorProto):
    dims = [int(d) for d in t.dims]
    h = hashlib.sha256()
    if t.data_type == onnx.TensorProto.STRING:
        for s in t.string_data:
            h.update(struct.pack("<I", len(s)))
            h.update(s)
        return [t.data_type, dims, h.hexdigest()]
    if t.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128) and not t.raw_data:
        # numpy_helper 1.12 fails on complex values in float_data/double_data (it builds complex
        # numbers and then casts them to float); read the interleaved parts directly.
        a = np.array(t.float_data if t.data_type == onnx.TensorProto.COMPLEX64 else t.double_data)
        a = a.astype(np.float32 if t.data_type == onnx.TensorProto.COMPLEX64 else np.float64)
    else:
        a = numpy_helper.to_array(t)
    if np.iscomplexobj(a):
        a = np.stack([a.real, a.imag], axis=-1)
    a = np.ascontiguousarray(a.astype("<f8").reshape(-1))
    bits = a.view("<u8").copy()
    bits[np.isnan(a)] = 0x7FF8000000000000
    h.update(bits.tobytes())
    return [t.data_type, dims, h.hexdigest()]


def tensors(path: str, kind: str):
    data = open(path, "rb").read()
    if kind == "sequence":
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return list(s.tensor_values)
    if kind == "optional":
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        if o.HasField("tensor_value"):
            return [o.tensor_value]
        if o.HasField("sequence_value"):
            return list(o.sequence_value.tensor_values)
        return []
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return [t]


def main():
    files = json.load(sys.stdin)
    out = {f["path"]: [digest(t) for t in tensors(f["path"], f["kind"])] for f in files}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
