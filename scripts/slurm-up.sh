#!/usr/bin/env bash
# Brings up a one-node Slurm on this machine (slurmctld and slurmd on 127.0.0.1, munge for auth), for
# the tests of sharded runs. Installs Debian's slurm-wlm and munge when missing. Idempotent: a running
# cluster whose node is idle is left as it is.
# Usage: bash scripts/slurm-up.sh        (as root, or with passwordless sudo)
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v srun >/dev/null || ! command -v munged >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
# Every check asks the daemon itself (a process list can hold the zombie of a stopped one).
node_idle() { [ "$(timeout 3 sinfo -h -o %T 2>/dev/null | head -1)" = idle ]; }
if node_idle; then
    exit 0
fi

state=/var/lib/metron-slurm
host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
$SUDO mkdir -p "$state/ctld" "$state/d" /var/log/slurm /etc/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge

if [ ! -s /etc/munge/munge.key ]; then
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    $SUDO chmod 400 /etc/munge/munge.key
fi
if ! timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; then
    # --force: the directories may belong to the munge user while the daemon runs as root.
    $SUDO munged --force 2>/dev/null
fi

$SUDO tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=metron
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF

timeout 5 scontrol ping 2>/dev/null | grep -q UP || $SUDO slurmctld
timeout 5 scontrol ping 2>/dev/null | grep -q UP || sleep 1
# A node whose slurmd is not running is not idle; a second slurmd would refuse to start anyway.
node_idle || $SUDO slurmd 2>/dev/null || true
for _ in $(seq 60); do
    if node_idle; then
        echo "slurm: one node ($host, $cpus CPUs) up"
        exit 0
    fi
    sleep 0.5
done
echo "slurm did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo >&2 || true
exit 1
