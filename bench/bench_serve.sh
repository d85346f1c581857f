#!/usr/bin/env bash
# bench_serve.sh [SIZE_MiB] - hubgate beside nginx on loopback, same file, same run.
#
# Measures, interleaved and repeated (median of REPS; of 3 x REPS for one client):
#   - warm download throughput with 1, 8 and 32 concurrent clients: hubgate plain resolve,
#     hubgate Xet xorb ranges (the records a Xet client fetches), nginx sendfile of the file, and
#     nginx serving the same xorb ranges from the same xorb files (the like-for-like anchor);
#   - small-request rate and p99 (wrk): hubgate model info JSON vs nginx returning a small JSON;
#   - hubgate peak RSS (it must not grow with the file size).
# Data lives on /dev/shm when possible so that the disk is not what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
HG=${HUBGATE:-build/hubgate}
SINK=${SINK:-build/bench_sink}
SIZE=${1:-1024}
REPS=${REPS:-3}
base=/dev/shm
[ -d "$base" ] && [ "$(df -Pm "$base" | awk 'NR==2{print $4}')" -gt $((SIZE * 3 + 512)) ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/hubgate-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/src" "$work/www"
chmod 755 "$work" "$work/www"   # nginx workers run as an unprivileged user
echo "generating ${SIZE} MiB in $work"
# A valid safetensors header in front of random tensor bytes: random bytes alone are judged by
# what they happen to look like (about 3 % look like a bad header or a pickle and are blocked).
python3 - "$((SIZE * 1024 * 1024))" > "$work/src/model.safetensors" <<'PY'
import json, struct, sys
total = int(sys.argv[1])
hdr = b""
for _ in range(3):  # the header's length depends on the tensor's, which depends on it
    n = total - 8 - len(hdr)
    hdr = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
sys.stdout.buffer.write(struct.pack("<Q", len(hdr)) + hdr)
PY
head -c "$((SIZE * 1024 * 1024 - $(stat -c %s "$work/src/model.safetensors")))" /dev/urandom >> "$work/src/model.safetensors"
chmod 644 "$work/src/model.safetensors"
ln "$work/src/model.safetensors" "$work/www/model.safetensors"
"$HG" import --data "$work/data" "$work/src" bench/model 2> "$work/import.log" > /dev/null

NGPORT=$(free_port)
small=$(python3 -c 'import json; print(json.dumps({"id":"bench/model","sha":"0"*40,"siblings":[{"rfilename":"model.safetensors"}],"pad":"x"*180}))')
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on; sendfile_max_chunk 2m;
  keepalive_requests 1000000;
  open_file_cache max=100;
  server {
    listen 127.0.0.1:$NGPORT reuseport;
    root $work/www;
    location = /small { default_type application/json; return 200 '$small'; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
"$HG" serve --no-upstream --data "$work/data" --listen 127.0.0.1:0 --threads 2 > "$work/hg.out" 2> "$work/hg.log" &
hgpid=$!
pids+=($hgpid)
for _ in $(seq 50); do grep -q "listening" "$work/hg.out" 2>/dev/null && break; sleep 0.1; done
HGPORT=$(awk '{print $NF}' "$work/hg.out")
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NGPORT/small" > /dev/null && break; sleep 0.1; done

# Request lists: whole file by resolve, by nginx, and the xorb ranges of a Xet download.
echo "/bench/model/resolve/main/model.safetensors" > "$work/req.resolve"
echo "/model.safetensors" > "$work/req.nginx"
python3 - "$HGPORT" > "$work/req.xet" <<'PY'
import json, sys, urllib.request, urllib.parse
base = f"http://127.0.0.1:{sys.argv[1]}"
tok = json.load(urllib.request.urlopen(base + "/api/models/bench/model/xet-read-token/main"))
h = urllib.request.urlopen(urllib.request.Request(base + "/bench/model/resolve/main/model.safetensors", method="HEAD"))
xh = h.headers["X-Xet-Hash"]
r = urllib.request.Request(base + f"/v2/reconstructions/{xh}", headers={"Authorization": "Bearer " + tok["accessToken"]})
rec = json.load(urllib.request.urlopen(r))
for term in rec["terms"]:
    for e in rec["xorbs"][term["hash"]]:
        u = urllib.parse.urlsplit(e["url"])
        for rg in e["ranges"]:
            if rg["chunks"]["start"] <= term["range"]["start"] and term["range"]["end"] <= rg["chunks"]["end"]:
                print(f"{u.path}?{u.query}\tbytes={rg['bytes']['start']}-{rg['bytes']['end']}")
PY

# The anchor for Xet: nginx serving the same xorb files with the same Range requests (a run of
# 64 MiB ranges on one connection is slower than one whole file for any server here).
mkdir -p "$work/www/xorbs/default"
cut -f1 "$work/req.xet" | sed 's/?.*//' | sort -u | while read -r p; do
  h=${p##*/}
  ln "$work/data/xorbs/${h:0:2}/${h:2:2}/$h" "$work/www/xorbs/default/$h"
done
sed 's/?[^\t]*//' "$work/req.xet" > "$work/req.nginx-xet"

# Warm up like a client would: the first download makes the plain copy (--file-cache) that
# later downloads are sent from; wait until it exists so every run measures the steady state.
curl -fs -o /dev/null "http://127.0.0.1:$HGPORT/bench/model/resolve/main/model.safetensors"
for _ in $(seq 600); do
  curl -fs "http://127.0.0.1:$HGPORT/metrics" | grep -q '^hubgate_plain_files_made_total [1-9]' && break
  sleep 0.1
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A res
# One stream swings most from run to run (0.25 s per GiB, and the scheduler's placement of server
# and client on the two cores decides much of it), and costs least: it gets three times the runs.
for n in 1 8 32; do
  reps=$REPS; [ "$n" = 1 ] && reps=$((REPS * 3))
  for rep in $(seq "$reps"); do
    for kind in nginx resolve nginx-xet xet; do
      port=$HGPORT; [ "${kind%%-*}" = nginx ] && port=$NGPORT
      out=$("$SINK" 127.0.0.1 "$port" "$n" "$work/req.$kind")
      res[$kind.$n]+="$(echo "$out" | awk '{print $3}') "
    done
  done
done
rss=$(awk '/VmHWM/{print $2}' "/proc/$hgpid/status")

wrk_run() { wrk -t1 -c64 -d5s --latency "$1" | awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{print r, p}'; }
# Alternating runs, the median of each (one 5 s run on this shared machine is a coin toss).
hg_runs=""; ng_runs=""
for rep in $(seq "$REPS"); do
  hg_runs+="$(wrk_run "http://127.0.0.1:$HGPORT/api/models/bench/model")"$'\n'
  ng_runs+="$(wrk_run "http://127.0.0.1:$NGPORT/small")"$'\n'
done
mid() { grep . | sort -n -k1,1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
hg_small=$(echo "$hg_runs" | mid)
ng_small=$(echo "$ng_runs" | mid)

echo
echo "hubgate vs nginx, ${SIZE} MiB file, loopback, median of $REPS ($((REPS * 3)) for 1 client) (GB/s; ratio = hubgate / nginx)"
echo "(xet: the xorb ranges a Xet client fetches; nginx xorbs: nginx serving the same ranges of the"
echo " same xorb files; ratios of xet against nginx's whole file and against nginx xorbs)"
printf "%-8s %8s %9s %6s %12s %9s %6s %6s\n" clients nginx "hg resolve" ratio "nginx xorbs" "hg xet" ratio ratio
for n in 1 8 32; do
  ng=$(echo "${res[nginx.$n]}" | tr ' ' '\n' | grep . | median)
  rs=$(echo "${res[resolve.$n]}" | tr ' ' '\n' | grep . | median)
  nx=$(echo "${res[nginx-xet.$n]}" | tr ' ' '\n' | grep . | median)
  xt=$(echo "${res[xet.$n]}" | tr ' ' '\n' | grep . | median)
  printf "%-8s %8s %9s %6.2f %12s %9s %6.2f %6.2f\n" "$n" "$ng" "$rs" "$(echo "$rs / $ng" | bc -l)" "$nx" "$xt" \
    "$(echo "$xt / $ng" | bc -l)" "$(echo "$xt / $nx" | bc -l)"
done
echo
printf "%-34s %12s %10s\n" "small requests (wrk -c64, 5 s, median of $REPS)" "req/s" "p99"
printf "%-34s %12s %10s\n" "nginx /small" $ng_small
printf "%-34s %12s %10s\n" "hubgate /api/models/{repo}" $hg_small
echo "ratio hubgate/nginx req/s: $(echo "${hg_small%% *} / ${ng_small%% *}" | bc -l | cut -c1-4)"
echo "hubgate peak RSS: $((rss / 1024)) MiB after serving $(( (3 + 8 + 32) * REPS * 2 )) downloads of ${SIZE} MiB"

# One stream, server on core 0 and client on core 1 (less placement noise), beside bench_slices:
# a least server sending the same file in 128 KiB slices (libmicrohttpd's, with an epoll_wait
# between them) and in 2 MiB slices (nginx's).  It separates the slice size from everything else.
SLICES=${SLICES:-build/bench_slices}
if [ "$(nproc)" -ge 2 ] && [ -x "$SLICES" ] && command -v taskset > /dev/null; then
  for p in $(pgrep -P "${pids[0]}") "${pids[0]}"; do taskset -a -p -c 0 "$p" > /dev/null; done
  taskset -a -p -c 0 "$hgpid" > /dev/null
  for slice in 131072 2097152; do
    port=$(free_port)
    taskset -c 0 "$SLICES" "$port" "$work/src/model.safetensors" "$slice" &
    pids+=($!)
    echo "/model.safetensors" > "$work/req.slices$slice"
    echo "$port" > "$work/port.slices$slice"
  done
  sleep 0.3
  declare -A one
  for rep in $(seq $((REPS * 3))); do
    one[nginx]+="$(taskset -c 1 "$SINK" 127.0.0.1 "$NGPORT" 1 "$work/req.nginx" | awk '{print $3}') "
    one[resolve]+="$(taskset -c 1 "$SINK" 127.0.0.1 "$HGPORT" 1 "$work/req.resolve" | awk '{print $3}') "
    for slice in 131072 2097152; do
      one[$slice]+="$(taskset -c 1 "$SINK" 127.0.0.1 "$(cat "$work/port.slices$slice")" 1 "$work/req.slices$slice" | awk '{print $3}') "
    done
  done
  ng=$(echo "${one[nginx]}" | tr ' ' '\n' | grep . | median)
  echo
  echo "one stream, server pinned to core 0 and client to core 1, median of $((REPS * 3)) (GB/s, ratio to nginx)"
  for k in nginx resolve 131072 2097152; do
    v=$(echo "${one[$k]}" | tr ' ' '\n' | grep . | median)
    case $k in
      nginx) name="nginx (2 MiB slices)" ;;
      resolve) name="hubgate resolve (libmicrohttpd)" ;;
      *) name="bench_slices, $((k / 1024)) KiB slices" ;;
    esac
    printf "%-34s %8s %6.2f\n" "$name" "$v" "$(echo "$v / $ng" | bc -l)"
  done
fi
