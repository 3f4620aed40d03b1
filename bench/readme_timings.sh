#!/bin/bash
# The README's everyday timings (Speed, "Everyday timings"): the first `rag ask` in a fresh data
# folder, later ones, `rag index`, and `rag chat --corpus` on a copy of the profile to ready.
# Run from the checkout, alone on the machine: bash bench/readme_timings.sh
set -e
cd "$(dirname "$0")/.."
Q="Who founded SenseTime?"
D=$(mktemp -d /tmp/wt19-readme-XXXX)
t() { /usr/bin/time -f "%e s wall, %U+%S s CPU, %M KB peak" "$@"; }
echo "first rag ask, fresh data folder (ONNX graph + word table + index build):"
RAG_DATA_DIR=$D/data t rag ask "$Q" 2>&1 >/dev/null | grep -v "DEBUG" | tail -2
echo "later rag ask x5:"
for i in 1 2 3 4 5; do RAG_DATA_DIR=$D/data t rag ask "$Q" 2>&1 >/dev/null | tail -1; done
echo "rag index, fresh index, graph already written:"
rm -rf $D/data/indexes; RAG_DATA_DIR=$D/data t rag index 2>&1 | tail -1
cp -r corpus $D/copy
for kind in "fresh data folder" "graph written, index not built" "index built"; do
  [ "$kind" = "fresh data folder" ] && rm -rf $D/chat
  [ "$kind" = "graph written, index not built" ] && rm -rf $D/chat/indexes
  start=$(date +%s.%N)
  RAG_DATA_DIR=$D/chat rag chat --corpus $D/copy --port 7871 >$D/chat.log 2>&1 &
  pid=$!
  until curl -s -o /dev/null http://127.0.0.1:7871/; do sleep 0.1; done
  end=$(date +%s.%N)
  echo "rag chat --corpus COPY to ready ($kind): $(echo "$end - $start" | bc) s"
  kill $pid; wait $pid 2>/dev/null || true
done
rm -rf $D
