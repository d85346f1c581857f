#!/usr/bin/env bash
# Scanner throughput: `hubgate scan` on
#   - a sparse multi-GB safetensors file (header only: milliseconds whatever the size),
#   - a large synthetic PyTorch zip checkpoint (stored records, 64-byte aligned; only data.pkl
#     and the small records are read, tensor records are skipped),
#   - a ~60 MB pickle (the pickle machine's own speed: every opcode is modelled).
# Prints best-of-5 wall time (process start included) and MB/s of file size.
#
#   bench/bench_scan.sh [GIB_SAFETENSORS (8)] [MIB_CHECKPOINT (1024)]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
hubgate=${HUBGATE:-$root/build/hubgate}
st_gib=${1:-8}
ck_mib=${2:-1024}
dir=$(mktemp -d /tmp/hubgate-bench-scan.XXXXXX)
trap 'rm -rf "$dir"' EXIT

python3 - "$dir" "$st_gib" "$ck_mib" <<'PY'
import json, os, pickle, struct, sys, zlib
d, st_gib, ck_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv[0] != "-" else ".", ""))
# safetensors: N tensors of 64 MiB F32, data area sparse
n = st_gib * 16
hdr, off = {"__metadata__": {"format": "pt"}}, 0
for i in range(n):
    hdr[f"model.layers.{i}.weight"] = {"dtype": "F32", "shape": [4096, 4096], "data_offsets": [off, off + (64 << 20)]}
    off += 64 << 20
h = json.dumps(hdr).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + off)
# torch zip: data.pkl (hand-assembled protocol-2 state dict) + sparse stored records
ntens = max(1, ck_mib // 4)
numel = (4 << 20) // 4
p = bytearray(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
p += b"ctorch._utils\n_rebuild_tensor_v2\nq\x02ctorch\nFloatStorage\nq\x03"
for i in range(ntens):
    key = str(i).encode()
    name = f"layers.{i}.weight".encode()
    p += b"X" + struct.pack("<I", len(name)) + name
    p += b"h\x02((X\x07\x00\x00\x00storageh\x03X" + struct.pack("<I", len(key)) + key
    p += b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQ"
    p += b"K\x00M\x00\x04M\x00\x04\x86M\x00\x04K\x01\x86\x89h\x00)RtR"
p += b"u."
entries = [("archive/data.pkl", bytes(p), None)] + [(f"archive/data/{i}", None, 4 << 20) for i in range(ntens)]
entries += [("archive/version", b"3\n", None), ("archive/byteorder", b"little", None)]
zero_crc = zlib.crc32(bytes(4 << 20))
with open(os.path.join(d, "pytorch_model.bin"), "wb") as f:
    cen = []
    for name, data, size in entries:
        nm = name.encode()
        off = f.tell()
        pad = (-(off + 30 + len(nm) + 4)) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        ln = len(data) if data is not None else size
        crc = zlib.crc32(data) if data is not None else zero_crc
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, ln, ln, len(nm), len(extra)) + nm + extra)
        if data is not None:
            f.write(data)
        else:
            f.seek(ln, 1)
        cen.append((nm, crc, ln, off))
    cd = f.tell()
    for nm, crc, ln, off in cen:
        f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, ln, ln, len(nm), 0, 0, 0, 0, 0, off) + nm)
    f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(cen), len(cen), f.tell() - cd, cd, 0))
# a 64 MiB pickle of plain data (protocol 4, framed): numbers, short tuples, a few strings
obj = [[i * 0.5 for i in range(4096)] + [(i, -i) for i in range(64)] + [f"row{j}"] for j in range(1600)]
with open(os.path.join(d, "big.pkl"), "wb") as f:
    f.write(pickle.dumps(obj, protocol=4))
PY

best_ms() { # best of 5 wall-clock runs, in ms; also checks the verdict
	local file=$1 want=$2 best=999999999 out
	for _ in 1 2 3 4 5; do
		local t0 t1 rc=0
		t0=$(date +%s%N)
		out=$("$hubgate" scan "$file") || rc=$?
		t1=$(date +%s%N)
		[[ $rc -le 1 ]] || { echo "unexpected verdict for $file:"; echo "$out"; exit 1; }
		local ms=$(( (t1 - t0) / 1000 ))
		(( ms < best )) && best=$ms
	done
	echo "$best"
}

printf '%-44s %12s %10s %12s\n' "file" "size MB" "ms" "MB/s"
for f in model.safetensors pytorch_model.bin big.pkl; do
	size=$(stat -c %s "$dir/$f")
	us=$(best_ms "$dir/$f" allow)
	awk -v f="$f" -v s="$size" -v us="$us" 'BEGIN { printf "%-44s %12.1f %10.2f %12.0f\n", f, s / 1e6, us / 1000, (s / 1e6) / (us / 1e6) }'
done
