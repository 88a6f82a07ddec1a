#!/usr/bin/env bash
# sluice-tune.sh: prepare a host for sluice. Dry run by default: prints what is already right
# ("ok"), what it would change ("would") and what it cannot check ("skip"), and changes nothing.
# With --apply (as root) it makes the changes. Idempotent: a second --apply changes nothing.
#
#   tuning/sluice-tune.sh [--apply] [--iface IFACE] [--pipeline-cpus LIST] [options]
#
# Steps (each can be skipped with --skip STEP):
#   hugepages  reserve N hugepages (--hugepages, --hugepage-size) and mount hugetlbfs
#   governor   CPU frequency governor "performance" on every CPU
#   thp        transparent hugepages "madvise" (--thp never|madvise)
#   irq        stop+disable irqbalance; with --pipeline-cpus, move every IRQ to the other CPUs
#   nic        with --iface: RX/TX ring sizes (max, or --rx-ring/--tx-ring), offloads, queues
#   nvme       I/O scheduler "none" and nr_requests (--nr-requests) on NVMe (or --disk) devices
#   sysctl     install tuning/99-sluice.sysctl.conf into /etc/sysctl.d and load it
#   memlock    RLIMIT_MEMLOCK unlimited: systemd unit (tuning/sluice.service) + limits.d
#   user       system user "sluice" and /var/lib/sluice
#
# Exit status: 0 when every step is ok or done (dry run: also when changes are pending),
# 1 when --apply failed somewhere, 2 on bad usage. --check: exit 3 when changes are pending.
# --root DIR reads (and with --apply writes) DIR/sys, DIR/proc, DIR/etc instead of the real
# ones and never calls systemctl/ethtool/mount/useradd: for tests on a fake tree.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APPLY=0
CHECK=0
ROOT=""
IFACE=""
PIPELINE_CPUS=""
HUGEPAGES=1024
HUGEPAGE_SIZE=2048   # kB
THP=madvise
RX_RING=""
TX_RING=""
QUEUES=""
NR_REQUESTS=1023
DISKS=()
SKIP=" "
SERVICE_USER=sluice
RAISE_ONLY="net.core.rmem_max net.core.rmem_default net.core.wmem_max net.core.netdev_max_backlog
net.core.netdev_budget vm.max_map_count fs.file-max"
RAISE_ONLY=${RAISE_ONLY//$'\n'/ }
DATA_DIR=/var/lib/sluice

usage() {
    sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<EOF
Options:
  --apply               make the changes (default: dry run)
  --check               dry run; exit 3 if anything would change
  --iface IFACE         NIC for the kernel-socket backend (nic step)
  --pipeline-cpus LIST  CPUs of the pipelines, e.g. 2-5 (IRQs move to the others)
  --hugepages N         hugepages to reserve (default $HUGEPAGES)
  --hugepage-size 2M|1G (default 2M)
  --thp madvise|never   (default $THP)
  --rx-ring N --tx-ring N  NIC ring sizes (default: the NIC's maximum)
  --queues N            NIC combined channels (RSS queues), e.g. one per pipeline core
  --nr-requests N       block queue depth (default $NR_REQUESTS)
  --disk DEV            block device to tune (repeatable; default every nvme*n*)
  --user NAME           service user (default $SERVICE_USER)
  --data-dir DIR        data directory owned by the user (default $DATA_DIR)
  --skip STEP           skip a step (repeatable)
  --root DIR            fake root for tests
EOF
}

while (($#)); do
    case "$1" in
        --apply) APPLY=1 ;;
        --check) CHECK=1 ;;
        --iface) IFACE="${2:?}"; shift ;;
        --pipeline-cpus) PIPELINE_CPUS="${2:?}"; shift ;;
        --hugepages) HUGEPAGES="${2:?}"; shift ;;
        --hugepage-size)
            case "${2:?}" in
                2M|2m|2048) HUGEPAGE_SIZE=2048 ;;
                1G|1g|1048576) HUGEPAGE_SIZE=1048576 ;;
                *) echo "sluice-tune: --hugepage-size must be 2M or 1G" >&2; exit 2 ;;
            esac
            shift ;;
        --thp) THP="${2:?}"; shift
            [[ $THP == madvise || $THP == never ]] || { echo "sluice-tune: --thp must be madvise or never" >&2; exit 2; } ;;
        --rx-ring) RX_RING="${2:?}"; shift ;;
        --tx-ring) TX_RING="${2:?}"; shift ;;
        --queues) QUEUES="${2:?}"; shift ;;
        --nr-requests) NR_REQUESTS="${2:?}"; shift ;;
        --disk) DISKS+=("${2:?}"); shift ;;
        --user) SERVICE_USER="${2:?}"; shift ;;
        --data-dir) DATA_DIR="${2:?}"; shift ;;
        --skip) SKIP+="${2:?} "; shift ;;
        --root) ROOT="${2:?}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "sluice-tune: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ((APPLY && CHECK)); then echo "sluice-tune: --apply and --check exclude each other" >&2; exit 2; fi
for n in "$HUGEPAGES" "$NR_REQUESTS" ${RX_RING:+"$RX_RING"} ${TX_RING:+"$TX_RING"} ${QUEUES:+"$QUEUES"}; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "sluice-tune: expected a number, got '$n'" >&2; exit 2; }
done
if ((APPLY)) && [[ -z $ROOT ]] && [[ $(id -u) != 0 ]]; then
    echo "sluice-tune: --apply needs root (run with sudo), or drop --apply for a dry run" >&2
    exit 2
fi

SYS="$ROOT/sys"
PROC="$ROOT/proc"
ETC="$ROOT/etc"
FAKE=0
[[ -n $ROOT ]] && FAKE=1
pending=0
failed=0

mode() { ((APPLY)) && echo "apply" || echo "dry run"; }
ok() { printf '  ok     %s\n' "$*"; }
skip() { printf '  skip   %s\n' "$*"; }
warn() { printf '  WARN   %s\n' "$*"; }
step() { printf '%s\n' "[$1]"; }
skipped() { [[ $SKIP == *" $1 "* ]]; }

# act DESCRIPTION CMD...: run CMD with --apply, else say what would run.
act() {
    local what="$1"; shift
    pending=$((pending + 1))
    if ((APPLY)); then
        if "$@" >/dev/null 2>&1; then
            printf '  done   %s\n' "$what"
        else
            printf '  FAIL   %s (%s)\n' "$what" "$*"
            failed=$((failed + 1))
        fi
    else
        printf '  would  %s\n' "$what"
        printf '           $ %s\n' "$*"
    fi
}
# set_file PATH VALUE [CURRENT]: write VALUE into a sysfs/procfs file unless it already reads so.
set_file() {
    local path="$1" want="$2" cur="${3-}"
    [[ -n $cur ]] || cur="$(cat "$path" 2>/dev/null)"
    if [[ $cur == "$want" ]]; then ok "$path = $want"; return; fi
    act "$path: '$cur' -> '$want'" sh -c "printf '%s\n' '$want' > '$path'"
}
# The active value of a "[x] y z" selector file.
selected() { sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$1" 2>/dev/null; }
have() { command -v "$1" >/dev/null 2>&1; }

# Expands "0-3,8" into "0 1 2 3 8".
expand_cpus() {
    local out=() part a b
    IFS=',' read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
            a=${BASH_REMATCH[1]}; b=${BASH_REMATCH[2]}
            for ((c = a; c <= b; c++)); do out+=("$c"); done
        elif [[ $part =~ ^[0-9]+$ ]]; then
            out+=("$part")
        elif [[ -n $part ]]; then
            echo "sluice-tune: bad CPU list '$1'" >&2; exit 2
        fi
    done
    echo "${out[*]}"
}
online_cpus() {
    local f="$SYS/devices/system/cpu/online"
    if [[ -r $f ]]; then expand_cpus "$(cat "$f")"; else expand_cpus "0-$(($(nproc) - 1))"; fi
}

echo "sluice-tune ($(mode))${ROOT:+, root $ROOT}"

# --- hugepages ------------------------------------------------------------------------------
if ! skipped hugepages; then
    step hugepages
    hp="$SYS/kernel/mm/hugepages/hugepages-${HUGEPAGE_SIZE}kB/nr_hugepages"
    if [[ ! -e $hp ]]; then
        skip "no ${HUGEPAGE_SIZE} kB hugepages on this kernel ($hp missing)"
    else
        cur=$(cat "$hp")
        if ((cur >= HUGEPAGES)); then ok "$hp = $cur (>= $HUGEPAGES)"; else set_file "$hp" "$HUGEPAGES" "$cur"; fi
        mnt=/dev/hugepages
        [[ $HUGEPAGE_SIZE == 1048576 ]] && mnt=/dev/hugepages1G
        if grep -qs " $mnt hugetlbfs " "$PROC/mounts"; then
            ok "hugetlbfs mounted on $mnt"
        elif ((FAKE)); then
            act "mount hugetlbfs on $mnt" true
        else
            act "mount hugetlbfs on $mnt (pagesize ${HUGEPAGE_SIZE}k)" \
                sh -c "mkdir -p $mnt && mount -t hugetlbfs -o pagesize=${HUGEPAGE_SIZE}k nodev $mnt"
        fi
        persist="$ETC/sysctl.d/98-sluice-hugepages.conf"
        if [[ $HUGEPAGE_SIZE == 2048 ]]; then
            if grep -qsx "vm.nr_hugepages = $HUGEPAGES" "$persist"; then ok "$persist: vm.nr_hugepages = $HUGEPAGES"
            else act "persist the reservation in $persist" sh -c "mkdir -p '$(dirname "$persist")' && echo 'vm.nr_hugepages = $HUGEPAGES' > '$persist'"; fi
        else
            skip "1 GiB pages are reserved at boot: add 'hugepagesz=1G hugepages=N' to the kernel command line"
        fi
        if ! grep -qs "hugetlbfs" "$ETC/fstab"; then
            act "persist the mount in $ETC/fstab" \
                sh -c "printf 'nodev %s hugetlbfs pagesize=%sk 0 0\n' $mnt $HUGEPAGE_SIZE >> '$ETC/fstab'"
        else
            ok "$ETC/fstab has a hugetlbfs line"
        fi
    fi
fi

# --- CPU governor -------------------------------------------------------------------------
if ! skipped governor; then
    step governor
    govs=("$SYS"/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor)
    if [[ ! -e ${govs[0]} ]]; then
        skip "no cpufreq interface (virtual machine, or the firmware owns frequency scaling)"
    else
        for g in "${govs[@]}"; do
            avail="$(dirname "$g")/scaling_available_governors"
            if [[ -r $avail ]] && ! grep -qw performance "$avail"; then
                warn "$g: governor 'performance' not offered ($(cat "$avail"))"
                continue
            fi
            set_file "$g" performance
        done
    fi
fi

# --- transparent hugepages ----------------------------------------------------------------
if ! skipped thp; then
    step thp
    for f in "$SYS/kernel/mm/transparent_hugepage/enabled" "$SYS/kernel/mm/transparent_hugepage/defrag"; do
        if [[ ! -e $f ]]; then skip "$f missing"; continue; fi
        want=$THP
        [[ $f == */defrag && $THP == madvise ]] && want=madvise
        cur=$(selected "$f")
        if [[ $cur == "$want" ]]; then ok "$f = [$want]"; else act "$f: [$cur] -> [$want]" sh -c "echo $want > '$f'"; fi
    done
fi

# --- IRQs -----------------------------------------------------------------------------------
if ! skipped irq; then
    step irq
    if ((FAKE)); then
        skip "irqbalance: not checked under --root"
    elif have systemctl && systemctl list-unit-files irqbalance.service >/dev/null 2>&1 &&
         systemctl list-unit-files irqbalance.service | grep -q irqbalance; then
        if systemctl is-active --quiet irqbalance || systemctl is-enabled --quiet irqbalance 2>/dev/null; then
            act "stop and disable irqbalance (it would move IRQs back onto pipeline cores)" \
                systemctl disable --now irqbalance
        else
            ok "irqbalance inactive and disabled"
        fi
    elif pgrep -x irqbalance >/dev/null 2>&1; then
        warn "irqbalance runs outside systemd: stop it by hand"
    else
        ok "irqbalance not installed or not running"
    fi
    if [[ -z $PIPELINE_CPUS ]]; then
        skip "IRQ affinity: give --pipeline-cpus LIST (see 'sluice plan') to move IRQs off them"
    else
        pipe=" $(expand_cpus "$PIPELINE_CPUS") "
        house=()
        for c in $(online_cpus); do [[ $pipe == *" $c "* ]] || house+=("$c"); done
        if ((${#house[@]} == 0)); then
            warn "every online CPU is a pipeline CPU: no CPU left for IRQs"
        else
            want=$(IFS=,; echo "${house[*]}")
            def="$PROC/irq/default_smp_affinity"
            changed=0 fixed=0
            for f in "$PROC"/irq/[0-9]*/smp_affinity_list; do
                [[ -e $f ]] || continue
                cur=$(cat "$f" 2>/dev/null)
                # Already on housekeeping CPUs only?
                bad=0
                for c in $(expand_cpus "$cur"); do [[ $pipe == *" $c "* ]] && bad=1; done
                if ((bad)); then
                    changed=$((changed + 1))
                    if ((APPLY)); then
                        if sh -c "echo $want > '$f'" 2>/dev/null; then fixed=$((fixed + 1)); fi
                    fi
                fi
            done
            if ((changed == 0)); then
                ok "no IRQ is routed to pipeline CPUs $PIPELINE_CPUS"
            elif ((APPLY)); then
                pending=$((pending + 1))
                printf '  done   moved %d of %d IRQs to CPUs %s' "$fixed" "$changed" "$want"
                ((fixed < changed)) && printf ' (the rest are managed by their drivers)'
                printf '\n'
            else
                pending=$((pending + 1))
                printf '  would  move %d IRQs off pipeline CPUs %s to %s\n' "$changed" "$PIPELINE_CPUS" "$want"
            fi
            if [[ -e $def ]]; then
                # default_smp_affinity is a hex mask.
                mask=0
                for c in "${house[@]}"; do mask=$((mask | (1 << c))); done
                wanthex=$(printf '%x' "$mask")
                cur=$(tr -d ',' <"$def" | sed 's/^0*//')
                [[ -z $cur ]] && cur=0
                if [[ $cur == "$wanthex" ]]; then ok "$def = $wanthex"; else act "$def: $cur -> $wanthex (new IRQs)" sh -c "echo $wanthex > '$def'"; fi
            fi
        fi
    fi
fi

# --- NIC --------------------------------------------------------------------------------------
if ! skipped nic; then
    step nic
    if [[ -z $IFACE ]]; then
        skip "no --iface given (the kernel-socket backend's NIC; DPDK ports are set by dpdk-config/)"
    elif [[ ! -e $SYS/class/net/$IFACE ]]; then
        warn "interface $IFACE not found"
    elif ((FAKE)) || ! have ethtool; then
        skip "ethtool not available (apt-get install ethtool)"
    else
        rings=$(ethtool -g "$IFACE" 2>/dev/null)
        if [[ -z $rings ]]; then
            skip "$IFACE: driver does not report ring sizes"
        else
            max_rx=$(awk '/^Pre-set maximums/{m=1} /^Current hardware/{m=0; c=1} m&&/^RX:/{print $2}' <<<"$rings")
            max_tx=$(awk '/^Pre-set maximums/{m=1} /^Current hardware/{m=0} m&&/^TX:/{print $2}' <<<"$rings")
            cur_rx=$(awk '/^Current hardware/{c=1} c&&/^RX:/{print $2}' <<<"$rings")
            cur_tx=$(awk '/^Current hardware/{c=1} c&&/^TX:/{print $2}' <<<"$rings")
            want_rx=${RX_RING:-$max_rx}
            want_tx=${TX_RING:-$max_tx}
            if [[ $cur_rx == "$want_rx" && $cur_tx == "$want_tx" ]]; then
                ok "$IFACE rings rx $cur_rx tx $cur_tx"
            elif [[ $want_rx =~ ^[0-9]+$ && $want_tx =~ ^[0-9]+$ ]]; then
                act "$IFACE rings rx $cur_rx -> $want_rx, tx $cur_tx -> $want_tx" ethtool -G "$IFACE" rx "$want_rx" tx "$want_tx"
            else
                skip "$IFACE: ring sizes not adjustable"
            fi
        fi
        # Offloads: checksum offload on (the kernel verifies UDP checksums for free); LRO off
        # (merged frames are not what was sent).
        feats=$(ethtool -k "$IFACE" 2>/dev/null)
        for f in "rx-checksumming:on:rx" "large-receive-offload:off:lro"; do
            IFS=: read -r name want key <<<"$f"
            cur=$(awk -v n="$name:" '$1==n{print $2}' <<<"$feats")
            if [[ -z $cur ]]; then skip "$IFACE $name not reported"
            elif [[ $cur == "$want" ]]; then ok "$IFACE $name $cur"
            elif grep -q "^$name: .*\[fixed\]" <<<"$feats"; then skip "$IFACE $name fixed at $cur"
            else act "$IFACE $name $cur -> $want" ethtool -K "$IFACE" "$key" "$want"; fi
        done
        if [[ -n $QUEUES ]]; then
            cur=$(ethtool -l "$IFACE" 2>/dev/null | awk '/^Current hardware/{c=1} c&&/^Combined:/{print $2}')
            if [[ -z $cur ]]; then skip "$IFACE: channels not adjustable"
            elif [[ $cur == "$QUEUES" ]]; then ok "$IFACE combined channels $cur"
            else act "$IFACE combined channels $cur -> $QUEUES" ethtool -L "$IFACE" combined "$QUEUES"; fi
        fi
    fi
fi

# --- NVMe -------------------------------------------------------------------------------------
if ! skipped nvme; then
    step nvme
    if ((${#DISKS[@]} == 0)); then
        for d in "$SYS"/block/nvme*n*; do [[ -e $d && $(basename "$d") != *p[0-9]* ]] && DISKS+=("$(basename "$d")"); done
    fi
    if ((${#DISKS[@]} == 0)); then
        skip "no NVMe block devices (give --disk DEV to tune another device)"
    fi
    for d in "${DISKS[@]}"; do
        d=$(basename "$d")
        q="$SYS/block/$d/queue"
        if [[ ! -d $q ]]; then warn "$d: $q missing"; continue; fi
        if [[ -e $q/scheduler ]]; then
            cur=$(selected "$q/scheduler")
            [[ -z $cur ]] && cur=$(cat "$q/scheduler")
            if [[ $cur == none ]]; then ok "$d scheduler none"
            elif grep -qw none "$q/scheduler"; then act "$d scheduler $cur -> none" sh -c "echo none > '$q/scheduler'"
            else warn "$d: scheduler 'none' not offered ($(cat "$q/scheduler"))"; fi
        fi
        if [[ -e $q/nr_requests ]]; then
            cur=$(cat "$q/nr_requests")
            if ((cur >= NR_REQUESTS)); then ok "$d nr_requests $cur (>= $NR_REQUESTS)"
            else act "$d nr_requests $cur -> $NR_REQUESTS" sh -c "echo $NR_REQUESTS > '$q/nr_requests'"; fi
        fi
    done
fi

# --- sysctl -----------------------------------------------------------------------------------
if ! skipped sysctl; then
    step sysctl
    src="$here/99-sluice.sysctl.conf"
    dst="$ETC/sysctl.d/99-sluice.conf"
    if [[ ! -r $src ]]; then
        warn "$src missing"
    else
        if cmp -s "$src" "$dst"; then ok "$dst installed"; else act "install $dst" install -D -m 0644 "$src" "$dst"; fi
        while IFS='=' read -r key val; do
            key=$(echo "$key" | tr -d ' '); val=$(echo "$val" | sed 's/^ *//; s/ *$//')
            [[ -z $key || $key == \#* ]] && continue
            f="$PROC/sys/${key//.//}"
            if [[ ! -e $f ]]; then skip "$key: not on this kernel"; continue; fi
            cur=$(tr -s '\t ' ' ' <"$f")
            # Limits and sizes are minimums: a host already set higher keeps its value.
            if [[ " $RAISE_ONLY " == *" $key "* && $cur =~ ^[0-9]+$ && $val =~ ^[0-9]+$ ]] && ((cur >= val)); then
                ok "$key = $cur (>= $val)"; continue
            fi
            if [[ $cur == "$val" ]]; then ok "$key = $val"
            elif ((FAKE)); then act "$key: $cur -> $val" sh -c "echo '$val' > '$f'"
            else act "$key: $cur -> $val" sysctl -q -w "$key=$val"; fi
        done < <(grep -v '^\s*#' "$src" | grep '=')
    fi
fi

# --- RLIMIT_MEMLOCK, unit ---------------------------------------------------------------------
if ! skipped memlock; then
    step memlock
    unit_src="$here/sluice.service"
    unit_dst="$ETC/systemd/system/sluice.service"
    if cmp -s "$unit_src" "$unit_dst"; then ok "$unit_dst installed (LimitMEMLOCK=infinity)"
    else act "install $unit_dst (LimitMEMLOCK=infinity, CPUAffinity, Restart=on-failure)" install -D -m 0644 "$unit_src" "$unit_dst"
        ((FAKE)) || act "reload systemd units" systemctl daemon-reload
    fi
    lim="$ETC/security/limits.d/99-sluice.conf"
    want="$SERVICE_USER - memlock unlimited"
    if grep -qsx "$want" "$lim"; then ok "$lim: $want (interactive runs as $SERVICE_USER)"
    else act "write $lim: $want" sh -c "mkdir -p '$(dirname "$lim")' && echo '$want' > '$lim'"; fi
    cur=$(ulimit -l)
    [[ $cur == unlimited ]] && ok "this shell: memlock unlimited" || skip "this shell: memlock $cur kB (fine for the service; DPDK from a shell may need 'ulimit -l unlimited')"
fi

# --- user -------------------------------------------------------------------------------------
if ! skipped user; then
    step user
    if grep -qs "^$SERVICE_USER:" "$ETC/passwd"; then ok "user $SERVICE_USER exists"
    elif ((FAKE)); then act "create system user $SERVICE_USER" true
    else act "create system user $SERVICE_USER" useradd --system --no-create-home --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"; fi
    if ((FAKE)); then
        skip "$DATA_DIR: not checked under --root"
    elif [[ -d $DATA_DIR ]] && [[ $(stat -c %U "$DATA_DIR") == "$SERVICE_USER" ]]; then ok "$DATA_DIR owned by $SERVICE_USER"
    else act "create $DATA_DIR owned by $SERVICE_USER" install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR"; fi
    if [[ -e $ETC/sluice/sluice.toml ]]; then ok "$ETC/sluice/sluice.toml present"
    else skip "$ETC/sluice/sluice.toml missing: write it (see tuning/README.md) before starting the service"; fi
fi

echo
if ((APPLY)); then
    echo "sluice-tune: $pending change(s) attempted, $failed failed"
    ((failed == 0)) || exit 1
else
    echo "sluice-tune: dry run, $pending change(s) pending; nothing was changed (use --apply as root to make them)"
    ((CHECK && pending > 0)) && exit 3
fi
exit 0
