#!/usr/bin/env bash
# Regenerates src/onnx/testing/onnx_data_pb.ts from onnx_data.proto with buf + protoc-gen-es (the same
# tools `npm run proto` uses for onnx.proto). buf needs both schemas in one module, so they are copied
# into a scratch directory; the import of the generated ONNX schema is then pointed at src/onnx/proto,
# and the blanket eslint-disable protoc-gen-es adds is dropped (the generated code passes the lint rules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$root/src/onnx/proto/onnx.proto" "$here/onnx_data.proto" "$work/"
printf 'version: v2\nmodules:\n  - path: .\n' >"$work/buf.yaml"
printf 'version: v2\nplugins:\n  - local: %s\n    out: out\n    opt: target=ts\n' \
  "$root/node_modules/.bin/protoc-gen-es" >"$work/buf.gen.yaml"
(cd "$work" && "$root/node_modules/.bin/buf" generate)
sed -e 's#from "./onnx_pb"#from "../proto/onnx_pb"#' -e '\#^/\* eslint-disable \*/$#d' \
  "$work/out/onnx_data_pb.ts" >"$here/onnx_data_pb.ts"
"$root/node_modules/.bin/prettier" --write "$here/onnx_data_pb.ts" >/dev/null
