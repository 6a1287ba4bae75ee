#!/usr/bin/env bash
# Checks the Ansible role offline, on this machine:
#   1. ansible-playbook --syntax-check
#   2. the systemd units (packaging/check.sh) and ansible-lint (profile production, from .ansible-lint)
#   3. agent.yaml.j2 rendered for a few variable sets, each validated by the agent's own schema
#   4. a check-mode run against localhost as on a new host (default paths, nothing installed)
#   5. a real run into a scratch directory (no apt, no systemd), then a second run that must change
#      nothing (idempotence), then a run after registration that must drop the join token.
#   6. the role's npm ci command in an unpacked release: the agent's workspace only (no manager
#      package), and the agent starts from it.
# Exits non-zero on the first failure. Needs: ansible, ansible-lint, git, node (repo's node_modules),
# npm (its cache or the registry, as `npm ci` does).
set -euo pipefail

ANSIBLE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$ANSIBLE_DIR/.." && pwd)
cd "$ANSIBLE_DIR"
export ANSIBLE_CONFIG="$ANSIBLE_DIR/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

WORK=$(mktemp -d -t orbit-ansible-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

run() {
  echo "+ $*" >&2
  "$@"
}

step() { printf '\n=== %s\n' "$*"; }

# Runs a playbook, keeps its output in $WORK/last.log, prints it, returns its status
# (under set -e an unguarded failing call ends the script).
play() {
  local status=0
  echo "+ ansible-playbook $*" >&2
  ansible-playbook "$@" >"$WORK/last.log" 2>&1 || status=$?
  cat "$WORK/last.log"
  if ((status != 0)); then
    echo "check.sh: ansible-playbook exited with $status" >&2
  fi
  return "$status"
}

# "changed=N" of localhost in the last run's recap.
changed_count() {
  sed -n 's/^localhost *:.* changed=\([0-9]*\).*/\1/p' "$WORK/last.log" | tail -1
}

step "syntax check"
run ansible-playbook --syntax-check -i inventory.example.ini site.yml

step "systemd units (packaging/check.sh)"
run bash "$REPO/packaging/check.sh"

step "ansible-lint"
run ansible-lint site.yml roles/orbit_agent

# The release tarball exactly as the README says to build it (committed files of HEAD).
run git -C "$REPO" archive --format=tar.gz --prefix=orbit/ -o "$WORK/orbit.tar.gz" HEAD

# Without python3-apt the apt module cannot simulate (and would install it in a real run):
# skip the package tasks then, and say so.
MANAGE_PACKAGES=true
if ! python3 -c 'import apt' 2>/dev/null; then
  MANAGE_PACKAGES=false
  echo "check.sh: python3-apt is not installed here: the apt tasks are skipped in the check-mode run"
fi
# Hosts (and CI runners) without /dev/kvm run guests under TCG.
DOMAIN_TYPE=kvm
[[ -e /dev/kvm ]] || DOMAIN_TYPE=qemu

COMMON=(
  -i localhost, -c local
  -e "orbit_manager=127.0.0.1:50051"
  -e "orbit_join_token=check-only-token"
  -e "orbit_agent_source=$WORK/orbit.tar.gz"
  -e "orbit_agent_domain_type=$DOMAIN_TYPE"
)
# -i localhost, has no orbit_agents group: run the same role on localhost through a wrapper play.
cat >"$WORK/localhost.yml" <<EOF
---
- name: Orbit agent role on localhost
  hosts: localhost
  gather_facts: true
  roles:
    - role: $ANSIBLE_DIR/roles/orbit_agent
EOF

step "agent.yaml.j2 renders to configurations the agent accepts"
render() {
  local name=$1
  shift
  run ansible localhost -c local -i localhost, -m ansible.builtin.template \
    -a "src=$ANSIBLE_DIR/roles/orbit_agent/templates/agent.yaml.j2 dest=$WORK/$name.yaml mode=0644" \
    -e "@$ANSIBLE_DIR/roles/orbit_agent/defaults/main.yml" -e "orbit_manager=mgr.example:50051" "$@" >/dev/null
  (cd "$REPO" && run node --import tsx agent/src/config/check-agent-config.ts "$WORK/$name.yaml")
}
render defaults
render managers -e '{"orbit_managers": ["mgr-2.example:50051", "mgr-3.example:50051"]}'
grep -q 'mgr-3.example:50051' "$WORK/managers.yaml" || { echo "check.sh: orbit_managers did not reach agent.yaml" >&2; exit 1; }
render full -e '{"orbit_agent_tags": ["gpu", "h100"], "orbit_agent_hostname": "kvm-01", "orbit_agent_tls_ca_file": "/etc/orbit/ca.pem", "orbit_agent_tls_server_name": "mgr.example", "orbit_agent_driver": "simulator", "orbit_agent_domain_type": "qemu", "orbit_agent_gpu_enabled": false, "orbit_agent_storage_heartbeat_dir": "/mnt/orbit-shared/ha", "orbit_agent_migration_uri": "qemu+tcp://10.0.1.11/system", "orbit_agent_cluster_address": "10.0.1.11", "orbit_agent_metrics_listen": "0.0.0.0:9464", "orbit_agent_extra_config": {"libvirt": {"machine": "pc"}, "simulator": {"cpus": 8}}}'
# The template must not be able to hide a mistake: a bad value has to be refused.
render_bad_status=0
render bad -e '{"orbit_agent_extra_config": {"libvirt": {"domain_typo": "kvm"}}}' || render_bad_status=$?
if ((render_bad_status == 0)); then
  echo "check.sh: a configuration with an unknown key was accepted" >&2
  exit 1
fi
echo "(refused as expected)"

step "check mode against localhost, as on a new host"
play "$WORK/localhost.yml" "${COMMON[@]}" --check --diff \
  -e "orbit_agent_manage_packages=$MANAGE_PACKAGES"

step "real run into a scratch directory (no apt, no systemd)"
SANDBOX="$WORK/root"
# /opt exists on a real host, and so does /etc/systemd/system.
mkdir -p "$SANDBOX/opt/orbit" "$SANDBOX/etc/systemd/system"
# Offline: reuse this checkout's node_modules instead of npm ci.
ln -s "$REPO/node_modules" "$SANDBOX/opt/orbit/node_modules"
SANDBOXED=(
  "${COMMON[@]}"
  -e "orbit_agent_manage_packages=false"
  -e "orbit_agent_manage_services=false"
  -e "orbit_agent_nodejs_install=none"
  -e "orbit_agent_npm_install=false"
  -e "orbit_agent_install_dir=$SANDBOX/opt/orbit"
  -e "orbit_agent_config_dir=$SANDBOX/etc/orbit"
  -e "orbit_agent_state_dir=$SANDBOX/var/lib/orbit-agent"
  -e "orbit_agent_systemd_dir=$SANDBOX/etc/systemd/system"
)
play "$WORK/localhost.yml" "${SANDBOXED[@]}" --diff
for f in opt/orbit/agent/bin/orbit-agent.js opt/orbit/agent/src/config/agent-config.ts etc/orbit/agent.yaml etc/orbit/agent.env etc/systemd/system/orbit-agent.service etc/systemd/system/orbit-agent.service.d/paths.conf; do
  [[ -f "$SANDBOX/$f" ]] || { echo "check.sh: $f was not installed" >&2; exit 1; }
done
run env SYSTEMD_UNIT_PATH="$SANDBOX/etc/systemd/system:" bash "$REPO/packaging/check.sh" "$SANDBOX/etc/systemd/system/orbit-agent.service"
[[ $(stat -c %a "$SANDBOX/etc/orbit/agent.env") == 600 ]] || { echo "check.sh: agent.env is not 0600" >&2; exit 1; }
if grep -q check-only-token "$WORK/last.log"; then
  echo "check.sh: the join token appeared in the Ansible output" >&2
  exit 1
fi

step "second run changes nothing"
play "$WORK/localhost.yml" "${SANDBOXED[@]}"
if [[ $(changed_count) != 0 ]]; then
  echo "check.sh: the second run was not idempotent (changed=$(changed_count))" >&2
  exit 1
fi

step "a setting the agent would refuse never replaces agent.yaml (template validate:)"
cp "$SANDBOX/etc/orbit/agent.yaml" "$WORK/agent.yaml.before"
bad_status=0
play "$WORK/localhost.yml" "${SANDBOXED[@]}" -e '{"orbit_agent_extra_config": {"log_level": "loud"}}' || bad_status=$?
if ((bad_status == 0)) || ! grep -q 'log_level: expected .*loud' "$WORK/last.log"; then
  echo "check.sh: agent.yaml with log_level: loud was not refused by the agent's schema" >&2
  exit 1
fi
cmp "$WORK/agent.yaml.before" "$SANDBOX/etc/orbit/agent.yaml"
echo "(refused as expected, agent.yaml kept)"

step "once registered, the join token is removed"
echo '{}' >"$SANDBOX/var/lib/orbit-agent/identity.json"
play "$WORK/localhost.yml" "${SANDBOXED[@]}"
if [[ -e "$SANDBOX/etc/orbit/agent.env" ]]; then
  echo "check.sh: agent.env (join token) is still there after registration" >&2
  exit 1
fi

step "the role's npm ci installs the agent's workspace only"
read -ra npm_ci < <(sed -n 's/^ *cmd: \(npm ci .*\)$/\1/p' roles/orbit_agent/tasks/code.yml)
((${#npm_ci[@]} > 0)) || { echo "check.sh: no npm ci command in tasks/code.yml" >&2; exit 1; }
RELEASE="$WORK/release"
mkdir "$RELEASE"
tar -xzf "$WORK/orbit.tar.gz" -C "$RELEASE" --strip-components=1
(cd "$RELEASE" && run "${npm_ci[@]}" --prefer-offline --loglevel=error)
for package in @orbit/manager fastify @fastify/swagger @electric-sql/pglite drizzle-orm pg vitest typescript; do
  if [[ -e "$RELEASE/node_modules/$package" ]]; then
    echo "check.sh: the agent's install holds $package" >&2
    exit 1
  fi
done
du -sh "$RELEASE/node_modules"
# Loading main.ts loads every module the agent imports; a missing config then stops it with exit 2.
agent_status=0
(cd "$RELEASE" && run node agent/bin/orbit-agent.js --config "$WORK/absent.yaml") 2>"$WORK/agent.err" || agent_status=$?
if ((agent_status != 2)) || ! grep -q "absent.yaml: cannot read" "$WORK/agent.err"; then
  cat "$WORK/agent.err" >&2
  echo "check.sh: orbit-agent from the agent-only install did not start as expected (exit $agent_status)" >&2
  exit 1
fi
echo "(orbit-agent starts from it and refuses the absent config)"

printf '\nansible/check.sh: all checks passed\n'
