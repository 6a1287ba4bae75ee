#!/usr/bin/env bash
# Verifies the systemd units with systemd-analyze (skipped when systemd-analyze is absent).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v systemd-analyze >/dev/null; then
  echo "packaging/check.sh: systemd-analyze not found, skipping unit verification"
  exit 0
fi
for unit in orbit-agent.service orbit-manager.service; do
  echo "+ systemd-analyze verify --man=no $unit"
  # RestartSteps/RestartMaxDelaySec are unknown before systemd 254 and ignored there: not an error.
  out=$(systemd-analyze verify --man=no "./$unit" 2>&1) || { echo "$out"; exit 1; }
  filtered=$(grep -v -E "Unknown key '(RestartSteps|RestartMaxDelaySec)'" <<<"$out" || true)
  if [[ -n "$filtered" ]]; then
    echo "$filtered"
    exit 1
  fi
done
echo "packaging/check.sh: units OK"
