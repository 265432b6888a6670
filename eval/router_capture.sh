#!/usr/bin/env bash
# Router quality apart from the LLM: error capture (router vs random vs ideal) and the
# hybrid with oracle LLMs that read the gold (oracle, oracle:0.1, oracle:0.3), on conll04 and
# scierc test. One thread, no real LLM; about 3 minutes on a shared 2-core CPU.
#
#   bash eval/router_capture.sh                      # the shipped checkpoint (models/hybrid-ie-minilm)
#   MODEL=runs/zs1/best bash eval/router_capture.sh  # another checkpoint
#   OUT=/tmp/rc bash eval/router_capture.sh          # reports elsewhere (default eval/reports)
#
# Reports: $OUT/router-capture-*/report.md (conll04, conll04-llm-score-0.9, conll04-llm_corrects,
# conll04-rank-uncertainty, scierc, scierc-llm-score-0.9, scierc-rank-uncertainty)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-eval/reports}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=1
model=()
if [[ -n "${MODEL:-}" ]]; then model=(--model "$MODEL"); fi
common=(--split test --threads 1 --calibration none --no-progress --budgets 0.05,0.1,0.2,0.3,0.5 "${model[@]}")
bench() { echo "+ hybrid-ie benchmark $*" >&2; "$PY" -m hybrid_ie.cli benchmark "$@"; }

# 1. conll04: capture curves and the oracle hybrid curves, default routing and reconcile (vote, LLM score 0.5)
bench --dataset conll04 "${common[@]}" --capture --llm oracle,oracle:0.1,oracle:0.3 \
  -o "$OUT/router-capture-conll04"
# 2. the same oracles with the reconcile setting for a strong LLM (vote, LLM score 0.9; chosen on conll04 dev)
bench --dataset conll04 "${common[@]}" --capture --llm oracle,oracle:0.1,oracle:0.3 --llm-score 0.9 \
  -o "$OUT/router-capture-conll04-llm-score-0.9"
# 3. ... and with reconcile llm_corrects (the LLM's answer replaces the chunk's)
bench --dataset conll04 "${common[@]}" --capture --llm oracle,oracle:0.1,oracle:0.3 --reconcile llm_corrects \
  -o "$OUT/router-capture-conll04-llm_corrects"
# 4. capture with the former rank (most uncertain chunk first), for comparison
bench --dataset conll04 "${common[@]}" --capture --rank uncertainty -o "$OUT/router-capture-conll04-rank-uncertainty"
# 5. scierc (nested decoding, as its other reports): capture and oracle / oracle:0.1, both reconcile settings
bench --dataset scierc "${common[@]}" --nested --capture --llm oracle,oracle:0.1 -o "$OUT/router-capture-scierc"
bench --dataset scierc "${common[@]}" --nested --capture --llm oracle,oracle:0.1 --llm-score 0.9 \
  -o "$OUT/router-capture-scierc-llm-score-0.9"
bench --dataset scierc "${common[@]}" --nested --capture --rank uncertainty -o "$OUT/router-capture-scierc-rank-uncertainty"
