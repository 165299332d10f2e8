#!/usr/bin/env bash
# Local cluster: a real 2-node Kubernetes v1.33 cluster on this machine, nodes in network namespaces.
# Usage: scripts/dev/local-cluster.sh up|down [--purge]|status   (as root; state in <repo>/.local-cluster/)
#
#   up      installs the Debian packages it needs, starts the local target (registry on 127.0.0.1:5000),
#           builds the Kubernetes binaries from tools/k8s when missing or stale, then starts
#           etcd + kube-apiserver + kube-controller-manager + kube-scheduler on this host and, per node,
#           containerd + kubelet + kube-proxy (iptables mode) inside the node's network namespace.
#           Idempotent: running it again starts only what is missing.
#   down    stops what `up` started (pid files), kills the containers, unmounts what the nodes mounted,
#           removes the namespaces, the bridge and the host firewall rules, restores the sysctls.
#           Keeps the built binaries; `down --purge` removes all of .local-cluster/ too.
#   status  one line per component; exit 0 when everything is up and both nodes are Ready.
#
# Afterwards:
#   .local-cluster/bin/kubectl --kubeconfig .local-cluster/kubeconfig get nodes -o wide
#   .local-cluster/nodes          "<node name> <node ip>" per line; NodePorts answer on every node ip
#   images: reference them as 127.0.0.1:5000/<repo>@sha256:...; the nodes fetch 127.0.0.1:5000 over
#   http from the bridge address (a forwarder on 10.213.0.1:5000, reachable from the bridge only).
#
# Layout: configs, certificates, logs and pid files in .local-cluster/; node runtime state
# (containerd root, kubelet root, pod volumes and mounts) in /var/lib/deep-calm-cluster/<node> and
# /run/deep-calm-cluster/<node>, outside the checkout so that tools walking the repo never enter a
# container's root filesystem.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE_DIR="$REPO_ROOT/.local-cluster"
BIN_DIR="$STATE_DIR/bin"
STAMP_DIR="$STATE_DIR/stamps"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
PKI_DIR="$STATE_DIR/pki"
ETC_DIR="$STATE_DIR/etc"
BASELINE_DIR="$STATE_DIR/baseline"
KUBECONFIG_FILE="$STATE_DIR/kubeconfig"
NODES_FILE="$STATE_DIR/nodes"
TOOLS_DIR="$REPO_ROOT/tools/k8s"
LIB_ROOT=/var/lib/deep-calm-cluster
RUN_ROOT=/run/deep-calm-cluster

K8S_VERSION=v1.33.13
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=33 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"

PACKAGES=(etcd-server containerd runc containernetworking-plugins busybox-static iptables iproute2
  openssl socat conntrack curl util-linux)
CNI_BIN_DIR=/usr/lib/cni

BRIDGE=dc-k8s0
HOST_IP=10.213.0.1
BRIDGE_CIDR=10.213.0.0/24
NODES=(dc-k8s-node1 dc-k8s-node2)
declare -A NODE_IP=([dc-k8s-node1]=10.213.0.11 [dc-k8s-node2]=10.213.0.12)
declare -A NODE_VETH=([dc-k8s-node1]=dc-k8s-n1 [dc-k8s-node2]=dc-k8s-n2)
declare -A POD_CIDR=([dc-k8s-node1]=10.244.1.0/24 [dc-k8s-node2]=10.244.2.0/24)
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
APISERVER_PORT=6443
APISERVER_URL="https://$HOST_IP:$APISERVER_PORT"
ETCD_CLIENT=127.0.0.1:23790
ETCD_PEER=127.0.0.1:23800
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_MIRROR="$HOST_IP:5000"
PAUSE_IMAGE=deep-calm.local/pause:3.10
# Host firewall chains this script owns (jumped to from INPUT and FORWARD).
FW_INPUT=DC-K8S-INPUT
FW_FORWARD=DC-K8S-FORWARD
# Host sysctls that the kubelets (or this script) may change; recorded by `up`, restored by `down`.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.netfilter.nf_conntrack_max)

say() { printf '%-24s %s\n' "$1:" "$2"; }
warn() { printf 'local-cluster: WARNING: %s\n' "$*" >&2; }
die() { printf 'local-cluster: %s\n' "$*" >&2; exit 1; }

# live_pid, spawn, wait_for, stop_pid
# shellcheck source=scripts/lib/daemons.sh
source "$REPO_ROOT/scripts/lib/daemons.sh"

# Writes stdin to a file (mode $2, default 0644) unless it already has that content: the daemons watch
# some of these files (kube-proxy exits when its configuration file changes).
write_if_changed() {
  local file=$1 mode=${2:-0644} tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    chmod "$mode" "$tmp"
    mv "$tmp" "$file"
    CHANGED=true
  fi
}
CHANGED=false # set by write_if_changed
declare -A RESTART=() # node/daemon -> 1 when its configuration file changed under a running daemon

now_ms() { date +%s%3N; }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# Runs one step of `up` or `down` and prints how long it took.
step() {
  local t0
  t0=$(now_ms)
  "$@"
  printf '%-24s %s\n' "" "(${1#ensure_} took $(elapsed "$t0"))"
}

# Runs a command inside a node's network namespace. Only the network namespace: the node's daemons share
# this host's mounts, so what a kubelet mounts for a pod is what its containerd sees, and `down` finds it.
# (`ip netns exec` would give each daemon a mount namespace of its own, with a fresh /sys that hides
# the cgroup hierarchies.)
in_node() { local node=$1; shift; nsenter --net="/run/netns/$node" -- "$@"; }

node_lib() { printf '%s/%s' "$LIB_ROOT" "$1"; }
node_run() { printf '%s/%s' "$RUN_ROOT" "$1"; }
node_etc() { printf '%s/nodes/%s' "$ETC_DIR" "$1"; }
node_sock() { printf '%s/containerd.sock' "$(node_run "$1")"; }
ctr_node() { local node=$1; shift; ctr --address "$(node_sock "$node")" --connect-timeout 2s --namespace k8s.io "$@"; }
kubectl_admin() { "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=10s "$@"; }

# ---- packages ---------------------------------------------------------------------------

# ensure_packages: scripts/lib/daemons.sh, over PACKAGES.

ensure_local_target() {
  bash "$SCRIPT_DIR/local-target.sh" up >>"$LOG_DIR/local-target.log" 2>&1 ||
    die "scripts/dev/local-target.sh up failed; see $LOG_DIR/local-target.log"
  curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" || die "no registry on $REGISTRY_ADDR"
  say local-target "up (registry on $REGISTRY_ADDR)"
}

# ---- binaries ---------------------------------------------------------------------------

# A digest of everything the binaries are built from.
build_stamp() {
  {
    go version
    printf '%s\n' "$LDFLAGS" "${COMPONENTS[@]}"
    cat "$TOOLS_DIR/go.mod" "$TOOLS_DIR/go.sum"
  } | sha256sum | cut -d' ' -f1
}

binaries_fresh() {
  local c stamp=$1
  [[ -f $STAMP_DIR/k8s && "$(cat "$STAMP_DIR/k8s")" == "$stamp" ]] || return 1
  for c in "${COMPONENTS[@]}"; do [[ -x $BIN_DIR/$c ]] || return 1; done
}

ensure_binaries() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain: the Kubernetes binaries are built from tools/k8s"
  mkdir -p "$BIN_DIR" "$STAMP_DIR"
  local stamp t0=$SECONDS pkgs=() c tmp
  stamp=$(build_stamp)
  # One build at a time (a second `up` waits for the first one's build).
  exec 9>"$STAMP_DIR/build.lock"
  flock 9
  if binaries_fresh "$stamp"; then
    say binaries "up to date ($K8S_VERSION in $BIN_DIR)"
    exec 9>&-
    return
  fi
  for c in "${COMPONENTS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  say binaries "building ${COMPONENTS[*]} $K8S_VERSION (the first build takes 10+ minutes)"
  tmp=$(mktemp -d "$STATE_DIR/build.XXXXXX")
  if ! (cd "$TOOLS_DIR" && go build -mod=readonly -trimpath -ldflags "$LDFLAGS" -o "$tmp/" "${pkgs[@]}") \
    >>"$LOG_DIR/build.log" 2>&1; then
    rm -rf "$tmp"
    die "building the Kubernetes binaries failed; see $LOG_DIR/build.log"
  fi
  for c in "${COMPONENTS[@]}"; do mv -f "$tmp/$c" "$BIN_DIR/$c"; done
  rm -rf "$tmp"
  printf '%s\n' "$stamp" >"$STAMP_DIR/k8s"
  exec 9>&-
  say binaries "built in $((SECONDS - t0))s ($("$BIN_DIR/kubectl" version --client 2>/dev/null | head -n1))"
}

# ---- baseline: what the host looked like before `up` ------------------------------------

# iptables-save without comments and counters, leaving out tables that hold nothing (with nf_tables, a
# table stays once listed even when it is empty again).
iptables_normalized() {
  iptables-save | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/' | awk '
    /^#/ { next }
    /^\*/ { buf = $0 "\n"; keep = 0; next }
    /^COMMIT/ { if (keep) printf "%sCOMMIT\n", buf; next }
    { buf = buf $0 "\n"; if ($0 ~ /^-/ || $0 ~ /^:[^ ]+ (DROP|-) /) keep = 1 }'
}
# Mount points, minus Docker's own (the local target's dockerd may mount while the cluster runs).
mount_targets() { findmnt -rn -o TARGET | grep -vE '^(/var/lib/docker|/run/docker|/var/run/docker)(/|$)' | sort; }

sysctl_values() {
  local key
  for key in "${SYSCTLS[@]}"; do
    sysctl -n "$key" >/dev/null 2>&1 && printf '%s=%s\n' "$key" "$(sysctl -n "$key" | tr '\t' ' ')"
  done
  return 0
}

# Recorded once, before this script changes anything; `down` restores and compares against it.
ensure_baseline() {
  if [[ -f $BASELINE_DIR/complete ]]; then
    say baseline "kept from the first \`up\` ($BASELINE_DIR)"
    return
  fi
  mkdir -p "$BASELINE_DIR"
  sysctl_values >"$BASELINE_DIR/sysctl"
  iptables_normalized >"$BASELINE_DIR/iptables"
  mount_targets >"$BASELINE_DIR/mounts"
  { [[ -d /var/log/pods ]] && echo pods; [[ -d /var/log/containers ]] && echo containers; } \
    >"$BASELINE_DIR/logdirs" || true
  local dir
  for dir in /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd; do
    [[ -d $dir ]] && echo "$dir"
  done >"$BASELINE_DIR/dirs" || true
  touch "$BASELINE_DIR/complete"
  say baseline "recorded sysctls, iptables and mounts in $BASELINE_DIR"
}

# ---- certificates and kubeconfigs -------------------------------------------------------

# issue NAME CN O EXT_KEY_USAGE [SAN]: an EC key and a certificate signed by the cluster CA.
issue() {
  local name=$1 cn=$2 org=$3 usage=$4 san=${5:-} subj ext
  [[ -s $PKI_DIR/$name.crt && -s $PKI_DIR/$name.key ]] && return
  subj="/CN=$cn"
  [[ -z $org ]] || subj="/O=$org$subj"
  ext="$PKI_DIR/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -z $san ]] || echo "subjectAltName=$san"
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -new -key "$PKI_DIR/$name.key" -subj "$subj" -out "$PKI_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
    -CAcreateserial -days 365 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$ext"
}

# write_kubeconfig FILE CERT_NAME [SERVER]
write_kubeconfig() {
  local file=$1 name=$2 server=${3:-$APISERVER_URL}
  write_if_changed "$file" 0600 <<EOF
apiVersion: v1
kind: Config
clusters:
- name: deep-calm-local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$PKI_DIR/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$PKI_DIR/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI_DIR/$name.key")
contexts:
- name: deep-calm-local
  context: {cluster: deep-calm-local, user: $name}
current-context: deep-calm-local
EOF
}

ensure_pki() {
  local node
  mkdir -p "$PKI_DIR" "$ETC_DIR"
  chmod 0700 "$PKI_DIR"
  if [[ ! -s $PKI_DIR/ca.crt ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI_DIR/ca.key" -subj "/CN=deep-calm-local-cluster-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI_DIR/ca.crt" 2>/dev/null
  fi
  issue apiserver kube-apiserver "" serverAuth \
    "IP:$HOST_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
  issue admin deep-calm-admin system:masters clientAuth
  issue controller-manager system:kube-controller-manager "" clientAuth
  issue scheduler system:kube-scheduler "" clientAuth
  issue kube-proxy system:kube-proxy "" clientAuth
  for node in "${NODES[@]}"; do
    issue "kubelet-$node" "system:node:$node" system:nodes clientAuth
    issue "kubelet-serving-$node" "$node" "" serverAuth "IP:${NODE_IP[$node]},DNS:$node"
  done
  if [[ ! -s $PKI_DIR/sa.key ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/sa.key" 2>/dev/null
    openssl ec -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  fi
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$ETC_DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$ETC_DIR/scheduler.kubeconfig" scheduler
  write_kubeconfig "$ETC_DIR/kube-proxy.kubeconfig" kube-proxy
  for node in "${NODES[@]}"; do write_kubeconfig "$ETC_DIR/kubelet-$node.kubeconfig" "kubelet-$node"; done
  say pki "CA and certificates in $PKI_DIR; admin kubeconfig $KUBECONFIG_FILE"
}

# ---- network: bridge, node namespaces, host firewall -----------------------------------

ensure_network() {
  local node ip veth other
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_IP/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for node in "${NODES[@]}"; do
    ip="${NODE_IP[$node]}" veth="${NODE_VETH[$node]}"
    [[ -e /run/netns/$node ]] || ip netns add "$node"
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip link add "$veth" type veth peer name eth0 netns "$node"
    fi
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$node" link set lo up
    ip -n "$node" addr replace "$ip/24" dev eth0
    ip -n "$node" link set eth0 up
    ip -n "$node" route replace default via "$HOST_IP" dev eth0
    # Pods of the other nodes: straight over the bridge to that node.
    for other in "${NODES[@]}"; do
      [[ $other == "$node" ]] || ip -n "$node" route replace "${POD_CIDR[$other]}" via "${NODE_IP[$other]}" dev eth0
    done
    # Routing between the pod bridge and the node's eth0 (this namespace only; the host keeps its value).
    in_node "$node" sysctl -qw net.ipv4.ip_forward=1
    # The host reaches each node's pods through that node.
    ip route replace "${POD_CIDR[$node]}" via "$ip" dev "$BRIDGE"
  done
  ensure_firewall
  say network "bridge $BRIDGE $HOST_IP/24; $(for n in "${NODES[@]}"; do printf '%s=%s ' "$n" "${NODE_IP[$n]}"; done)"
}

# The bridge addresses (apiserver, registry forwarder) answer on the bridge and on this host only; nothing
# is forwarded into the bridge or the pod networks from other interfaces. Traffic between the nodes crosses
# the host bridge (and, with br_netfilter, its FORWARD chain), so it is accepted explicitly.
ensure_firewall() {
  if ! iptables -n -L "$FW_INPUT" >/dev/null 2>&1; then
    iptables -N "$FW_INPUT"
    iptables -A "$FW_INPUT" -i lo -j RETURN
    iptables -A "$FW_INPUT" -i "$BRIDGE" -j RETURN
    iptables -A "$FW_INPUT" -d "$BRIDGE_CIDR" -j DROP
  fi
  if ! iptables -n -L "$FW_FORWARD" >/dev/null 2>&1; then
    iptables -N "$FW_FORWARD"
    iptables -A "$FW_FORWARD" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    iptables -A "$FW_FORWARD" -d "$BRIDGE_CIDR" -j DROP
    iptables -A "$FW_FORWARD" -d "$CLUSTER_CIDR" -j DROP
  fi
  iptables -C INPUT -j "$FW_INPUT" 2>/dev/null || iptables -I INPUT 1 -j "$FW_INPUT"
  iptables -C FORWARD -j "$FW_FORWARD" 2>/dev/null || iptables -I FORWARD 1 -j "$FW_FORWARD"
}

# ---- host daemons: registry forwarder, etcd, control plane ------------------------------

# ensure_daemon NAME CHECK_FN COMMAND...: starts COMMAND unless CHECK_FN already succeeds.
ensure_daemon() {
  local name=$1 check=$2 pid; shift 2
  if pid=$(live_pid "$RUN_DIR/$name.pid") && wait_for 30 "$check"; then
    say "$name" "already running (pid $pid)"
    return
  fi
  [[ -z ${pid:-} ]] || stop_pid "$pid" 10
  pid=$(spawn "$LOG_DIR/$name.log" "$@")
  printf '%s\n' "$pid" >"$RUN_DIR/$name.pid"
  wait_for 90 "$check" || die "$name did not come up within 90s; see $LOG_DIR/$name.log"
  say "$name" "started (pid $pid)"
}

forwarder_answers() { curl -fsS -m 3 -o /dev/null "http://$REGISTRY_MIRROR/v2/"; }
etcd_answers() { curl -fsS -m 3 "http://$ETCD_CLIENT/health" | grep -q '"health":"true"'; }
apiserver_answers() {
  curl -fsS -m 3 --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
    "$APISERVER_URL/readyz" | grep -qx ok
}
controller_manager_answers() { curl -fsSk -m 3 "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz" | grep -qx ok; }
scheduler_answers() { curl -fsSk -m 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz" | grep -qx ok; }

ensure_forwarder() {
  # The registry listens on loopback only; the nodes fetch from the bridge address instead.
  ensure_daemon registry-forwarder forwarder_answers \
    socat "TCP-LISTEN:5000,bind=$HOST_IP,reuseaddr,fork" "TCP:$REGISTRY_ADDR"
}

ensure_etcd() {
  mkdir -p "$STATE_DIR/etcd"
  chmod 0700 "$STATE_DIR/etcd"
  ensure_daemon etcd etcd_answers etcd --name deep-calm-local --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
    --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
    --initial-cluster "deep-calm-local=http://$ETCD_PEER" \
    --quota-backend-bytes 1073741824
}

ensure_apiserver() {
  ensure_daemon kube-apiserver apiserver_answers "$BIN_DIR/kube-apiserver" \
    --bind-address="$HOST_IP" --advertise-address="$HOST_IP" --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://$ETCD_CLIENT" \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --client-ca-file="$PKI_DIR/ca.crt" \
    --requestheader-client-ca-file="$PKI_DIR/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
    --kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI_DIR/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI_DIR/sa.pub" --service-account-signing-key-file="$PKI_DIR/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --profiling=false --event-ttl=1h
}

ensure_controller_manager() {
  ensure_daemon kube-controller-manager controller_manager_answers "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$ETC_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$ETC_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$ETC_DIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$PKI_DIR/sa.key" \
    --root-ca-file="$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
    --cluster-cidr="$CLUSTER_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
    --profiling=false
}

ensure_scheduler() {
  ensure_daemon kube-scheduler scheduler_answers "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$ETC_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$ETC_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$ETC_DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
}

# ---- nodes ------------------------------------------------------------------------------

# The sandbox ("pause") image, built from static busybox: it waits for a signal and exits.
pause_image_tar() {
  local tar="$STATE_DIR/images/pause.tar" work layer_sha config config_sha
  [[ -s $tar ]] && { printf '%s\n' "$tar"; return; }
  mkdir -p "$STATE_DIR/images"
  work=$(mktemp -d)
  install -d "$work/rootfs/bin"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  ln -s busybox "$work/rootfs/bin/sh"
  ln -s busybox "$work/rootfs/bin/sleep"
  tar -C "$work/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$work/layer.tar" bin
  layer_sha=$(sha256sum <"$work/layer.tar" | cut -d' ' -f1)
  config='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],'
  config+='"Entrypoint":["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]},'
  config+="\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]}}"
  printf '%s' "$config" >"$work/config.json"
  config_sha=$(sha256sum <"$work/config.json" | cut -d' ' -f1)
  mv "$work/config.json" "$work/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$config_sha" "$PAUSE_IMAGE" \
    >"$work/manifest.json"
  tar -C "$work" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$tar" manifest.json "$config_sha.json" layer.tar
  rm -rf "$work"
  printf '%s\n' "$tar"
}

# Each node's own cgroup root, in every cgroup v1 hierarchy, so that the two kubelets never touch
# each other's pods.
cgroup_dirs() {
  local node=$1 d
  for d in /sys/fs/cgroup/*/; do
    d=${d%/}
    [[ $(stat -fc %T "$d") == cgroupfs ]] && printf '%s/%s\n' "$d" "$node"
  done
  return 0
}

ensure_cgroup_root() {
  local node=$1 dir
  while read -r dir; do
    mkdir -p "$dir"
    if [[ $dir == /sys/fs/cgroup/cpuset/* ]]; then
      [[ -n $(cat "$dir/cpuset.cpus") ]] || cat /sys/fs/cgroup/cpuset/cpuset.cpus >"$dir/cpuset.cpus"
      [[ -n $(cat "$dir/cpuset.mems") ]] || cat /sys/fs/cgroup/cpuset/cpuset.mems >"$dir/cpuset.mems"
    fi
  done < <(cgroup_dirs "$node")
}

write_node_config() {
  local node=$1 etc lib run ip
  etc=$(node_etc "$node") lib=$(node_lib "$node") run=$(node_run "$node") ip=${NODE_IP[$node]}
  mkdir -p "$etc/cni" "$etc/certs.d/$REGISTRY_ADDR" "$lib/containerd" "$lib/kubelet" "$lib/opt" \
    "$lib/volume-plugins" "$lib/pod-logs" "$run/containerd" "$run/ipam"
  CHANGED=false
  write_if_changed "$etc/containerd.toml" <<EOF
version = 2
root = "$lib/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$run/containerd.sock"

[ttrpc]
  address = "$run/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$lib/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine cannot lower oom_score_adj (no CAP_SYS_RESOURCE); clamp instead of failing.
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$etc/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$etc/certs.d"
EOF
  ! $CHANGED || RESTART[$node/containerd]=1
  # Images named 127.0.0.1:5000/... come from the local registry through the bridge forwarder.
  write_if_changed "$etc/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_MIRROR"

[host."http://$REGISTRY_MIRROR"]
  capabilities = ["pull", "resolve"]
EOF
  write_if_changed "$etc/cni/10-$node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${POD_CIDR[$node]}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$run/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  printf 'nameserver %s\noptions ndots:1\n' "$HOST_IP" | write_if_changed "$etc/resolv.conf"
  CHANGED=false
  write_if_changed "$etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI_DIR/kubelet-serving-$node.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving-$node.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$run/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$node
cgroupsPerQOS: true
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: true
localStorageCapacityIsolation: false
resolvConf: $etc/resolv.conf
clusterDomain: cluster.local
volumePluginDir: $lib/volume-plugins
podLogsDir: $lib/pod-logs
rotateCertificates: false
serializeImagePulls: false
# This machine's disk and memory must not make the nodes evict pods or delete images.
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
EOF
  ! $CHANGED || RESTART[$node/kubelet]=1
  CHANGED=false
  write_if_changed "$etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $node
bindAddress: $ip
clusterCIDR: $CLUSTER_CIDR
clientConnection: {kubeconfig: $ETC_DIR/kube-proxy.kubeconfig}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$ip/32"]
iptables: {localhostNodePorts: false}
# Leave the host-wide conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  ! $CHANGED || RESTART[$node/kube-proxy]=1
}

containerd_answers() { [[ -S $(node_sock "$1") ]] && ctr --address "$(node_sock "$1")" --connect-timeout 2s version; }
kubelet_answers() { in_node "$1" curl -fsS -m 3 http://127.0.0.1:10248/healthz | grep -qx ok; }
kube_proxy_answers() { in_node "$1" curl -fsS -m 3 -o /dev/null http://127.0.0.1:10256/livez; }

# ensure_node_daemon NODE NAME CHECK COMMAND...: like ensure_daemon, inside the node's network namespace.
ensure_node_daemon() {
  local node=$1 name=$2 check=$3 pid; shift 3
  local how=started
  if pid=$(live_pid "$RUN_DIR/$node-$name.pid"); then
    if [[ -n ${RESTART[$node/$name]:-} ]]; then
      how="restarted (its configuration changed)"
    elif wait_for 30 "$check" "$node"; then
      say "$node/$name" "already running (pid $pid)"
      return
    fi
    stop_pid "$pid" 30
  fi
  pid=$(spawn "$LOG_DIR/$node-$name.log" nsenter --net="/run/netns/$node" -- "$@")
  printf '%s\n' "$pid" >"$RUN_DIR/$node-$name.pid"
  wait_for 90 "$check" "$node" || die "$node/$name did not come up within 90s; see $LOG_DIR/$node-$name.log"
  say "$node/$name" "$how (pid $pid)"
}

ensure_nodes() {
  local node etc tar
  tar=$(pause_image_tar)
  for node in "${NODES[@]}"; do
    etc=$(node_etc "$node")
    write_node_config "$node"
    ensure_cgroup_root "$node"
    ensure_node_daemon "$node" containerd containerd_answers containerd --config "$etc/containerd.toml"
    ctr_node "$node" images ls -q | grep -qxF "$PAUSE_IMAGE" ||
      ctr_node "$node" images import "$tar" >>"$LOG_DIR/$node-containerd.log" 2>&1 ||
      die "importing the pause image into $node failed; see $LOG_DIR/$node-containerd.log"
    ensure_node_daemon "$node" kubelet kubelet_answers "$BIN_DIR/kubelet" \
      --config="$etc/kubelet.yaml" --kubeconfig="$ETC_DIR/kubelet-$node.kubeconfig" \
      --root-dir="$(node_lib "$node")/kubelet" --cert-dir="$(node_lib "$node")/kubelet/pki" \
      --hostname-override="$node" --node-ip="${NODE_IP[$node]}"
    ensure_node_daemon "$node" kube-proxy kube_proxy_answers "$BIN_DIR/kube-proxy" \
      --config="$etc/kube-proxy.yaml"
  done
}

nodes_ready() {
  local node
  for node in "${NODES[@]}"; do
    [[ $(kubectl_admin get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
      return 1
  done
}

ensure_ready() {
  local node
  wait_for 120 nodes_ready || die "the nodes did not become Ready within 120s; see $LOG_DIR/*-kubelet.log"
  for node in "${NODES[@]}"; do
    # The node's pod range (spec.podCIDR is set once, here; the CNI config on the node uses the same).
    [[ -n $(kubectl_admin get node "$node" -o jsonpath='{.spec.podCIDR}') ]] ||
      kubectl_admin patch node "$node" --type merge \
        -p "{\"spec\":{\"podCIDR\":\"${POD_CIDR[$node]}\",\"podCIDRs\":[\"${POD_CIDR[$node]}\"]}}" >/dev/null
  done
  for node in "${NODES[@]}"; do printf '%s %s\n' "$node" "${NODE_IP[$node]}"; done >"$NODES_FILE"
  say nodes "Ready: ${NODES[*]} (list in $NODES_FILE)"
}

# ---- status -----------------------------------------------------------------------------

rss_mb() { awk '/^VmRSS:/ {printf "%d", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Pids of the containerd shims that a node's containerd started (their command line names its socket).
node_shims() {
  local sock p
  sock=$(node_sock "$1")
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $sock " && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

# Pids of every process in a node's cgroups (its pods' containers).
node_container_pids() {
  local dir
  dir="/sys/fs/cgroup/pids/$1"
  [[ -d $dir ]] || return 0
  find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

TOTAL_RSS=0
# report NAME PIDFILE CHECK [ARGS...]: prints one status line; fails when the component is down.
report() {
  local name=$1 pidfile=$2 pid rss state; shift 2
  if pid=$(live_pid "$pidfile"); then
    rss=$(rss_mb "$pid")
    TOTAL_RSS=$((TOTAL_RSS + rss))
    if "$@" >/dev/null 2>&1; then state=answering; else state="NOT ANSWERING"; fi
    printf '%-32s pid %-7s %5s MB  %s\n' "$name" "$pid" "$rss" "$state"
    [[ $state == answering ]]
  else
    printf '%-32s %s\n' "$name" DOWN
    return 1
  fi
}

cmd_status() {
  local rc=0 node p extra_rss ready api=false
  report registry-forwarder "$RUN_DIR/registry-forwarder.pid" forwarder_answers || rc=1
  report etcd "$RUN_DIR/etcd.pid" etcd_answers || rc=1
  if report kube-apiserver "$RUN_DIR/kube-apiserver.pid" apiserver_answers; then api=true; else rc=1; fi
  report kube-controller-manager "$RUN_DIR/kube-controller-manager.pid" controller_manager_answers || rc=1
  report kube-scheduler "$RUN_DIR/kube-scheduler.pid" scheduler_answers || rc=1
  for node in "${NODES[@]}"; do
    report "$node/containerd" "$RUN_DIR/$node-containerd.pid" containerd_answers "$node" || rc=1
    report "$node/kubelet" "$RUN_DIR/$node-kubelet.pid" kubelet_answers "$node" || rc=1
    report "$node/kube-proxy" "$RUN_DIR/$node-kube-proxy.pid" kube_proxy_answers "$node" || rc=1
    extra_rss=0
    for p in $(node_shims "$node") $(node_container_pids "$node"); do extra_rss=$((extra_rss + $(rss_mb "$p"))); done
    TOTAL_RSS=$((TOTAL_RSS + extra_rss))
    printf '%-32s %-11s %5s MB\n' "$node/shims+containers" "" "$extra_rss"
    ready=""
    ! $api || ready=$(kubectl_admin get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    if [[ $ready == True ]]; then
      printf '%-32s %s\n' "$node" "Ready (${NODE_IP[$node]})"
    else
      printf '%-32s %s\n' "$node" "NOT Ready (${ready:-unknown})"
      rc=1
    fi
  done
  printf '%-32s %-11s %5s MB\n' "total RSS" "" "$TOTAL_RSS"
  return "$rc"
}

# ---- up ---------------------------------------------------------------------------------

all_answering() { cmd_status >/dev/null 2>&1; }

cmd_up() {
  local t0
  t0=$(now_ms)
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$ETC_DIR"
  if [[ -x $BIN_DIR/kubectl && -s $KUBECONFIG_FILE ]] && binaries_fresh "$(build_stamp)" && all_answering; then
    say cluster "already running: ${NODES[*]} Ready; kubeconfig $KUBECONFIG_FILE"
    return
  fi
  step ensure_packages
  step ensure_local_target
  step ensure_binaries
  step ensure_baseline
  step ensure_pki
  step ensure_network
  step ensure_forwarder
  step ensure_etcd
  step ensure_apiserver
  step ensure_controller_manager
  step ensure_scheduler
  step ensure_nodes
  step ensure_ready
  say cluster "up in $(elapsed "$t0"); kubectl: $BIN_DIR/kubectl --kubeconfig $KUBECONFIG_FILE"
}

# ---- down -------------------------------------------------------------------------------

# True when none of the pids is alive.
all_gone() {
  local p
  for p; do kill -0 "$p" 2>/dev/null && return 1; done
  return 0
}

# stop_started NAME:COMM...: stops, all at once, the processes in RUN_DIR/NAME.pid whose command is still
# COMM (a pid file never makes us signal a process we did not start); KILL after 30 seconds.
stop_started() {
  local spec name comm pid pids=() names=()
  for spec in "$@"; do
    name=${spec%%:*} comm=${spec#*:}
    if pid=$(live_pid "$RUN_DIR/$name.pid") && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && names+=("$name")
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
  ((${#pids[@]} > 0)) || return 0
  if ! wait_for 30 all_gone "${pids[@]}"; then
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  for pid in "${!pids[@]}"; do say "${names[$pid]}" "stopped (pid ${pids[$pid]})"; done
}

# Notes the node's pod sandbox ids (from its containerd's directories, whether or not it still runs) for
# the CNI cache cleanup.
record_sandboxes() {
  local dir
  for dir in "$(node_lib "$1")/containerd" "$(node_run "$1")/containerd"; do
    [[ -d $dir/io.containerd.grpc.v1.cri/sandboxes ]] && ls "$dir/io.containerd.grpc.v1.cri/sandboxes"
  done >>"$RUN_DIR/container-ids" || true
}

# Removes a node's containers: through its containerd while it runs, then kills whatever is left in
# the node's cgroups (its pods' processes, whoever started them).
stop_node_containers() {
  local node=$1 id pids n=0
  if containerd_answers "$node" >/dev/null 2>&1; then
    for id in $(ctr_node "$node" tasks ls -q 2>/dev/null); do
      ctr_node "$node" tasks rm -f "$id" >/dev/null 2>&1 || true
      n=$((n + 1))
    done
  fi
  mapfile -t pids < <(node_container_pids "$node")
  ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
  [[ ${2:-} == quiet && $n == 0 && ${#pids[@]} == 0 ]] ||
    say "$node/containers" "removed $n, killed ${#pids[@]} leftover processes"
}

# Stops the shims that the node's containerd started (their command line names its socket).
stop_node_shims() {
  local node=$1 pids
  mapfile -t pids < <(node_shims "$node")
  ((${#pids[@]} == 0)) && return
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait_for 10 all_gone "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
  say "$node/shims" "stopped ${#pids[*]} (pids ${pids[*]})"
}

# Unmounts every mount below the cluster's directories, deepest first.
unmount_all() {
  local targets t n=0
  mapfile -t targets < <(findmnt -rn -o TARGET | grep -E "^($LIB_ROOT|$RUN_ROOT|$STATE_DIR)(/|$)" |
    awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)
  for t in "${targets[@]}"; do
    t=$(printf '%b' "$t")
    umount "$t" 2>/dev/null || umount -l "$t" 2>/dev/null || warn "cannot unmount $t"
    n=$((n + 1))
  done
  say mounts "unmounted $n"
}

remove_cgroups() {
  local node=$1 dir
  while read -r dir; do
    [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done < <(cgroup_dirs "$node"; printf '/sys/fs/cgroup/unified/%s\n' "$node")
  return 0
}

remove_network() {
  local node
  for node in "${NODES[@]}"; do
    [[ -e /run/netns/$node ]] && ip netns del "$node"
    ip link del "${NODE_VETH[$node]}" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if iptables -C INPUT -j "$FW_INPUT" 2>/dev/null; then iptables -D INPUT -j "$FW_INPUT"; fi
  if iptables -C FORWARD -j "$FW_FORWARD" 2>/dev/null; then iptables -D FORWARD -j "$FW_FORWARD"; fi
  local chain
  for chain in "$FW_INPUT" "$FW_FORWARD"; do
    if iptables -n -L "$chain" >/dev/null 2>&1; then iptables -F "$chain" && iptables -X "$chain"; fi
  done
  # `ip netns add` made /run/netns a mount point; undo that if it was not one before and is empty now.
  if [[ -f $BASELINE_DIR/mounts ]] && ! grep -qx /run/netns "$BASELINE_DIR/mounts" &&
    findmnt -rn /run/netns >/dev/null && [[ -z $(ls -A /run/netns) ]]; then
    umount /run/netns 2>/dev/null || true
  fi
  say network "removed $BRIDGE, ${NODES[*]} and the host chains $FW_INPUT/$FW_FORWARD"
}

restore_and_compare() {
  [[ -f $BASELINE_DIR/complete ]] || { warn "no baseline recorded; cannot compare the host with its state before up"; return; }
  local line key value now ok=true
  while IFS= read -r line; do
    key=${line%%=*} value=${line#*=}
    now=$(sysctl -n "$key" 2>/dev/null | tr '\t' ' ')
    [[ $now == "$value" ]] || sysctl -qw "$key=$value" || warn "cannot restore $key=$value"
  done <"$BASELINE_DIR/sysctl"
  if ! diff <(sysctl_values) "$BASELINE_DIR/sysctl" >/dev/null; then
    warn "sysctls differ from before up:"; diff <(sysctl_values) "$BASELINE_DIR/sysctl" >&2 || true; ok=false
  fi
  if ! diff <(iptables_normalized) "$BASELINE_DIR/iptables" >/dev/null; then
    warn "iptables-save differs from before up:"; diff <(iptables_normalized) "$BASELINE_DIR/iptables" >&2 || true
    ok=false
  fi
  if ! diff <(mount_targets) "$BASELINE_DIR/mounts" >/dev/null; then
    warn "mounts differ from before up:"; diff <(mount_targets) "$BASELINE_DIR/mounts" >&2 || true; ok=false
  fi
  if $ok; then
    say host "sysctls, iptables and mounts as before up"
    rm -rf "$BASELINE_DIR"
  fi
}

# The kubelets link container logs from /var/log/containers (and may create /var/log/pods);
# remove the links into this cluster's directories and the directories if `up` created them.
clean_host_leftovers() {
  local link
  if [[ -d /var/log/containers ]]; then
    for link in /var/log/containers/*; do
      [[ -L $link && $(readlink "$link") == "$LIB_ROOT"/* ]] && rm -f "$link"
    done
  fi
  if [[ -f $BASELINE_DIR/logdirs ]]; then
    grep -qx containers "$BASELINE_DIR/logdirs" || rmdir /var/log/containers 2>/dev/null || true
    grep -qx pods "$BASELINE_DIR/logdirs" || rmdir /var/log/pods 2>/dev/null || true
  fi
  # libcni's result cache: this cluster's networks (named after the nodes) and its sandboxes' loopback.
  local id
  rm -f /var/lib/cni/results/dc-k8s-node*
  if [[ -f $RUN_DIR/container-ids ]]; then
    while read -r id; do
      [[ -n $id ]] && rm -f /var/lib/cni/results/*-"$id"-*
    done <"$RUN_DIR/container-ids"
    rm -f "$RUN_DIR/container-ids"
  fi
  # Directories the nodes' containerds created on this host, when they did not exist before `up`.
  local dir
  for dir in /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd; do
    if [[ -f $BASELINE_DIR/dirs ]] && ! grep -qx "$dir" "$BASELINE_DIR/dirs"; then rmdir "$dir" 2>/dev/null || true; fi
  done
  say host-dirs "removed the nodes' files under /var/log, /var/lib/cni and /run/containerd"
}

stop_kubelets() {
  local node specs=()
  for node in "${NODES[@]}"; do specs+=("$node-kube-proxy:kube-proxy" "$node-kubelet:kubelet"); done
  stop_started "${specs[@]}"
  for node in "${NODES[@]}"; do
    stop_node_containers "$node"
  done
}

stop_runtimes() {
  local node specs=()
  for node in "${NODES[@]}"; do specs+=("$node-containerd:containerd"); done
  stop_started "${specs[@]}"
  for node in "${NODES[@]}"; do
    stop_node_shims "$node"
    stop_node_containers "$node" quiet
  done
}

stop_control_plane() {
  stop_started kube-scheduler:kube-scheduler kube-controller-manager:kube-controller \
    kube-apiserver:kube-apiserver registry-forwarder:socat
  stop_started etcd:etcd
  # The cluster's objects go with it: the next `up` starts from an empty etcd.
  rm -rf "$STATE_DIR/etcd"
}

remove_node_dirs() {
  local node
  for node in "${NODES[@]}"; do
    record_sandboxes "$node"
    remove_cgroups "$node"
  done
  # --one-file-system: never follow a mount that could not be removed into another filesystem.
  rm -rf --one-file-system "$RUN_ROOT" "$LIB_ROOT"
  say node-dirs "removed $RUN_ROOT, $LIB_ROOT and the nodes' cgroups"
}

cmd_down() {
  local purge=${1:-} t0
  t0=$(now_ms)
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  step stop_kubelets
  step stop_runtimes
  step stop_control_plane
  step unmount_all
  step remove_node_dirs
  step remove_network
  step clean_host_leftovers
  restore_and_compare
  if [[ $purge == --purge ]]; then
    rm -rf "$STATE_DIR"
    say purge "removed $STATE_DIR (binaries included)"
  else
    rm -f "$NODES_FILE"
    say down "done in $(elapsed "$t0"); binaries kept in $BIN_DIR (down --purge removes them)"
  fi
}

main() {
  [[ $EUID -eq 0 ]] || die "run as root (it creates network namespaces and starts system daemons)"
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down "${2:-}" ;;
    status) cmd_status ;;
    *) die "usage: $0 up|down [--purge]|status" ;;
  esac
}

main "$@"
