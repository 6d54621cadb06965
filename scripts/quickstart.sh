#!/usr/bin/env bash
# The README's first command. On a fresh Debian 12 / Ubuntu machine (root or sudo) it installs what it
# needs, starts the local test cluster (real kube-apiserver, controller-manager, scheduler; kwok in place
# of kubelets) and one node container `lab1` carrying the snapd/microk8s TEST DOUBLES, then runs the site
# playbook on the single-node lab inventory (inventories/test_lab: microk8s, cluster, labels, data layout,
# Exaflow + MIP on their real upstream charts) and prints the health summary. Without GitHub access the
# charts come from the offline mirror of SCIPLAT_UPSTREAM (the shared upstream folder, when present).
# Safe to repeat: every step checks first, the node container is reused, and a rerun reports changed=0.
#
#   scripts/quickstart.sh          set up (or reuse) the lab and run the site playbook on it
#   scripts/quickstart.sh --down   remove the lab: container, Node, releases, volumes
source "$(dirname "$0")/lib.sh"

LAB_RUN_ID=lab
LAB_HOST=lab1
LAB_INVENTORY=inventories/test_lab
# The lab inventory's releases; MIP's unmanaged StorageClass is <namespace>-<release>-local.
LAB_RELEASES=(exaflow/exaflow mip/mip)
LAB_STORAGE_CLASS=mip-mip-local
LOG_DIR="$SCIPLAT_CACHE/lab"

summary() {  # summary LOG: the health report task's lines and the recap
  python3 - "$1" <<'PY'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = re.search(r"TASK \[sciplat\.k8s\.health_report : Print the health summary\].*?=> (\{.*?\n\})", text, re.S)
if section:
    print("\n".join(json.loads(section.group(1))["msg"]))
recap = text[text.rfind("PLAY RECAP"):].splitlines()
print("\n".join(line for line in recap[1:] if line.strip()))
PY
}

changed_count() {  # changed_count LOG: sum of changed= over the recap
  sed -n '/^PLAY RECAP/,$p' "$1" | grep -o 'changed=[0-9]*' | awk -F= '{ sum += $2 } END { print sum + 0 }'
}

step "Debian packages and the Python venv"
ensure_apt_packages
ensure_venv
activate
cd "$SCIPLAT_ROOT" || exit 1

if [ "${1:-}" = "--down" ]; then
  step "removing the lab from the test cluster"
  lab_args=()
  for release in "${LAB_RELEASES[@]}"; do lab_args+=(--release "$release"); done
  python tests/lab/lab.py --run-id "$LAB_RUN_ID" down "${lab_args[@]}" --storage-class "$LAB_STORAGE_CLASS"
  rm -f "$HOME/.kube/sciplat-test-lab.config"
  exit 0
fi

step "test cluster binaries (cached; a cold build from the Go module proxy takes about 10 minutes)"
python tests/cluster/testcluster.py build
step "starting the test cluster (no-op when it runs)"
python tests/cluster/testcluster.py start
# helm and kubectl on PATH; the lab itself reaches the API server through the kubeconfig its control
# plane hands out (`microk8s config`), as a real machine would, so the harness's kubeconfig is dropped.
eval "$(python tests/cluster/testcluster.py env)"
unset KUBECONFIG K8S_AUTH_KUBECONFIG
ensure_chart_mirror

step "node container images (cached; a cold debootstrap takes about 2 minutes)"
python tests/nodes/nodes.py build >/dev/null
step "node container $LAB_HOST"
python tests/lab/lab.py --run-id "$LAB_RUN_ID" up "$LAB_HOST" >/dev/null
# TEST STAND-IN for microk8s' hostpath provisioner, which the test cluster does not run.
python tests/lab/lab.py volumes "$LAB_STORAGE_CLASS" --count 4

step "ansible-playbook -i $LAB_INVENTORY sciplat.k8s.site"
mkdir -p "$LOG_DIR"
log="$LOG_DIR/site-$(date +%Y%m%d-%H%M%S).log"
export CONTAINERS_CONF="$SCIPLAT_ROOT/tests/nodes/containers.conf" ANSIBLE_NOCOLOR=1
started=$(date +%s)
rc=0
ansible-playbook -i "$LAB_INVENTORY" sciplat.k8s.site 2>&1 | tee "$log" || rc=$?
elapsed=$(( $(date +%s) - started ))

step "health summary"
summary "$log"
[ "$rc" -eq 0 ] || die "the site playbook failed after ${elapsed}s (exit $rc); full output: $log"
changed=$(changed_count "$log")
if [ "$changed" -eq 0 ]; then
  echo "Site playbook done in ${elapsed}s; nothing changed (the lab already matched the inventory)."
else
  echo "Site playbook done in ${elapsed}s; $changed change(s). Run scripts/quickstart.sh again: it reports changed=0."
fi

cat <<EOF

The same playbook on real machines (Ubuntu 22.04/24.04 reachable over SSH by a sudo user):
  1. copy an example inventory: inventories/single_node (one machine), inventories/federation (1 control
     plane + 2 workers) or inventories/ha, and for the platforms inventories/mip_federation,
     inventories/scipion_facility or inventories/cytomine_lab; set the addresses and sciplat_platforms;
  2. drop what only this lab needs: the podman connection and the mip_chart_* lines that point at the
     assembled MIP chart (real hosts get the pinned upstream charts; a site without GitHub access sets
     sciplat_chart_mirror, see docs/mirror.md);
  3. run, with a dry run first:
       ansible-playbook -i inventories/<yours> sciplat.k8s.site --check --diff
       ansible-playbook -i inventories/<yours> sciplat.k8s.site
The lab stays up for exploring (KUBECONFIG=$HOME/.kube/sciplat-test-lab.config kubectl get pods -A);
scripts/quickstart.sh --down removes it. Full output of this run: $log
EOF
