#!/usr/bin/env bash
# Verifies systemd units with systemd-analyze (skipped when systemd-analyze is absent).
# Without arguments: the units in this directory. With arguments: those unit files (set
# SYSTEMD_UNIT_PATH=DIR: to have their drop-ins in DIR/NAME.service.d/ read too).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v systemd-analyze >/dev/null; then
  echo "packaging/check.sh: systemd-analyze not found, skipping unit verification"
  exit 0
fi
units=("$@")
((${#units[@]} > 0)) || units=("$PWD/orbit-agent.service" "$PWD/orbit-manager.service")
for unit in "${units[@]}"; do
  echo "+ systemd-analyze verify --man=no $unit"
  out=$(systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$out"; exit 1; }
  # RestartSteps/RestartMaxDelaySec are unknown before systemd 254 and ignored there: not an error.
  filtered=$(grep -v -E "Unknown key '(RestartSteps|RestartMaxDelaySec)'" <<<"$out" || true)
  if [[ -n "$filtered" ]]; then
    echo "$filtered"
    exit 1
  fi
done
echo "packaging/check.sh: units OK"
