#!/usr/bin/env bash
# Generates TypeScript for proto/ with ts-proto into shared/gen (never edited by hand).
# Needs protoc (Debian's protobuf-compiler). `--check` regenerates into a temp dir and diffs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
out=shared/gen
if [ "${1:-}" = "--check" ]; then out=$(mktemp -d); fi
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,importSuffix=.js,forceLong=number,oneof=unions-value,useDate=false,useOptionals=none \
  -I proto proto/orbit/agent/v1/agent.proto
if [ "${1:-}" = "--check" ]; then
  diff -r "$out" shared/gen >/dev/null || { echo "shared/gen is stale: run npm run proto" >&2; diff -r "$out" shared/gen | head -20 >&2; exit 1; }
  echo "generated code is current"
fi
