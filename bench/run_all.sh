#!/usr/bin/env bash
# Runs every benchmark script and writes their output to docs/bench-latest.md (atomically).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
out=docs/bench-latest.md
tmp=$(mktemp docs/.bench-latest.XXXXXX)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Latest benchmark run"
  echo
  echo "Written by \`make bench\` on $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), load"
  echo "average $(cut -d' ' -f1-3 /proc/loadavg). Figures measured by hand, with their conditions,"
  echo "are on [Benchmarks](benchmarks.md)."
} >"$tmp"
for script in bench/*.py; do
  printf '\n## `%s`\n\n```\n' "$script" >>"$tmp"
  "$PYTHON" "$script" 2>&1 | tee -a "$tmp"
  printf '```\n' >>"$tmp"
done
chmod 644 "$tmp"
mv -- "$tmp" "$out"
