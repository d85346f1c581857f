#!/usr/bin/env bash
# CLI tests for 'hubgate xet ...': output formats, stdin, variants, and errors on bad input.
# usage: test_cli_xet.sh HUBGATE XET_VECTORS_JSON
set -uo pipefail
HG=$1
VEC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }

# Inputs and expectations from the vectors (Python's standard library only).
python3 - "$VEC" "$tmp" <<'PY'
import json, sys, hashlib
vec, tmp = sys.argv[1], sys.argv[2]
d = json.load(open(vec))
M = (1 << 64) - 1
def splitmix64(n, seed):
    s, out = seed, bytearray()
    while len(out) < n:
        s = (s + 0x9E3779B97F4A7C15) & M
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:n])
vs = {v["name"]: v for v in d["chunking_and_hashing"]}
for name, data in [("splitmix64_seed0_4MiB", splitmix64(4194304, 0)), ("abc", b"abc"), ("empty", b"")]:
    v = vs[name]
    assert hashlib.sha256(data).hexdigest() == v["sha256"]
    open(f"{tmp}/{name}", "wb").write(data)
    for variant, exp in (("L", v), ("M", v if v["xetcore_min_size_rule_agrees"] else v["xetcore_min_size_rule_variant"])):
        with open(f"{tmp}/{name}.chunks.{variant}", "w") as f:
            for c in exp["chunks"]:
                f.write(f'{c["offset"]} {c["length"]} {c["hash"]}\n')
        fh = exp.get("file_hash", v["file_hash"] if variant == "L" else None)
        if fh:
            open(f"{tmp}/{name}.hash.{variant}", "w").write(f"{fh} {v['sha256']} {len(data)}\n")
open(f"{tmp}/ref.xorb", "wb").write(bytes.fromhex(d["xorb_shard_upload"]["xorb"]["hex"]))
open(f"{tmp}/ref.shard", "wb").write(bytes.fromhex(d["xorb_shard_upload"]["shard"]["hex"]))
open(f"{tmp}/xorb.hash", "w").write(d["xorb_shard_upload"]["xorb"]["hash"])
PY

f=$tmp/splitmix64_seed0_4MiB
for v in L M; do
  check "chunk --variant $v matches the vector" "$("$HG" xet chunk --variant $v "$f" | md5sum)" "$(md5sum < "$f.chunks.$v")"
  check "chunk --variant $v from stdin" "$("$HG" xet chunk --variant=$v - < "$f" | md5sum)" "$(md5sum < "$f.chunks.$v")"
  [ -f "$f.hash.$v" ] && check "hash --variant $v matches the vector" "$("$HG" xet hash --variant $v "$f")" "$(cat "$f.hash.$v")"
done
check "default variant is M" "$("$HG" xet chunk "$f" | md5sum)" "$(md5sum < "$f.chunks.M")"
check "hash of abc" "$("$HG" xet hash "$tmp/abc")" "$(cat "$tmp/abc.hash.L")"
check "hash of the empty file" "$("$HG" xet hash - < /dev/null)" "$(cat "$tmp/empty.hash.L")"
check "no chunks for the empty file" "$("$HG" xet chunk "$tmp/empty" | wc -l)" "0"

# xorb pack/info round trip and the reference xorb.
check "xorb-info reads the reference xorb" "$("$HG" xet xorb-info "$tmp/ref.xorb" | head -1 | cut -d' ' -f2)" "$(cat "$tmp/xorb.hash")"
"$HG" xet xorb --variant L "$tmp/abc" > "$tmp/abc.xorb" 2> "$tmp/abc.xorb.err"
check "xorb of abc hashes like its chunk" "$(cut -d' ' -f1 < "$tmp/abc.xorb.err")" "$("$HG" xet chunk "$tmp/abc" | cut -d' ' -f3)"
check "xorb-info agrees with xorb" "$("$HG" xet xorb-info "$tmp/abc.xorb" | head -1 | cut -d' ' -f2)" "$(cut -d' ' -f1 < "$tmp/abc.xorb.err")"
"$HG" xet xorb "$f" > "$tmp/big.xorb" 2> "$tmp/big.xorb.err"
check "xorb of 4 MiB: hash is the merkle root of its chunks" "$(cut -d' ' -f1 < "$tmp/big.xorb.err")" \
  "$(python3 -c "import json;d=json.load(open('$VEC'));v=[x for x in d['chunking_and_hashing'] if x['name']=='splitmix64_seed0_4MiB'][0];print(v['xetcore_min_size_rule_variant'].get('xorb_hash_all_chunks',''))")"
check "shard-info reads the reference shard" "$("$HG" xet shard-info "$tmp/ref.shard" | head -1)" "shard version 2 footer yes files 4 xorbs 1"

# Errors: exit status and a message, never a crash.
expect_fail() { # name expected-status cmd...
  local name=$1 want=$2; shift 2
  "$@" > "$tmp/out" 2> "$tmp/err"; local st=$?
  if [ "$st" = "$want" ] && [ -s "$tmp/err" ]; then ok "$name"; else bad "$name: status $st, stderr '$(head -c 200 "$tmp/err")'"; fi
}
expect_fail "missing file" 1 "$HG" xet hash "$tmp/nope"
expect_fail "bad variant" 2 "$HG" xet chunk --variant Q "$f"
expect_fail "missing variant value" 2 "$HG" xet chunk --variant
expect_fail "unknown option" 2 "$HG" xet hash --frobnicate "$f"
expect_fail "no input" 2 "$HG" xet hash
expect_fail "unknown xet subcommand" 2 "$HG" xet frob
expect_fail "unknown command" 2 "$HG" frob
expect_fail "a directory is not a file" 1 "$HG" xet hash "$tmp"
head -c 3000 "$tmp/ref.xorb" > "$tmp/trunc.xorb"
expect_fail "truncated xorb" 1 "$HG" xet xorb-info "$tmp/trunc.xorb"
head -c 1000 "$tmp/ref.shard" > "$tmp/trunc.shard"
expect_fail "truncated shard" 1 "$HG" xet shard-info "$tmp/trunc.shard"
expect_fail "empty input makes no xorb" 1 "$HG" xet xorb "$tmp/empty"
check "help exits 0" "$("$HG" help > /dev/null; echo $?)" "0"
check "version" "$("$HG" version | cut -d' ' -f1)" "hubgate"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
