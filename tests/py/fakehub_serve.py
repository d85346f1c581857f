"""Runs fakehub.FakeHub as a process for tests written in other languages (tests/hub/*.mjs).

    python3 fakehub_serve.py            (HUBGATE names the binary the fake uses to build xorbs)

Builds a fixed set of upstream repos with deterministic bytes, then prints one JSON line on
stdout: {"url", "cdn_url", "cas_url", "repos": {"<type>/<id>": {"commits": [oldest..newest],
"tags": {...}, "files": {path: {"sha256", "size", "lfs", "xet_hash", "blob"}}}}}.  File bytes are
not printed: the node side regenerates them with the same rule (see bytes_of below and
tests/hub/gateway.test.mjs), or fetches them from the fake itself.

Then it reads commands, one per line on stdin, and answers each with one JSON line:
    counters             the fake's counters
    reset                clears the counters -> {}
    faults {json}        sets fault switches (e.g. {"down": true}); {} clears them -> {}
    quit                 closes the fake and exits (EOF on stdin does the same)
"""
import hashlib
import json
import random
import sys

import fakehub

MiB = 1 << 20
GOOD = "hf_good"          # the token granted on the gated and the private repo


def bytes_of(seed, n):
    """Deterministic bytes; the node suite fetches them from the fake to compare, so the rule
    only has to be stable within a run."""
    return random.Random(seed).randbytes(n)


def build(hub):
    spec = {}
    plain = {
        "config.json": b'{"model_type": "fake", "rev": 1}\n',
        "README.md": b"# org/plain\n\nserved through a CDN redirect\n",
        "tokenizer/vocab.txt": b"".join(b"tok%d\n" % i for i in range(2000)),
        "model.safetensors": bytes_of(1, 3 * MiB + 17),
        "weights/pytorch_model.bin": bytes_of(2, 2 * MiB + 5),
        "empty.txt": b"",
    }
    c1 = hub.add_repo("org/plain", plain, xet=False, tags=("v1.0",), message="initial")
    c2 = hub.add_commit("org/plain", {"config.json": b'{"model_type": "fake", "rev": 2}\n',
                                      "added.txt": b"added in the second commit\n"},
                        message="second")
    spec[("model", "org/plain")] = [c1, c2]
    xet = {
        "config.json": b'{"model_type": "fake-xet"}\n',
        "sub/dir/notes.md": b"xet repo notes\n" * 10,
        "model.safetensors": bytes_of(3, 4 * MiB + 3),
        "shard-00001.bin": bytes_of(4, 1 * MiB + 77),
    }
    spec[("model", "org/xet")] = [hub.add_repo("org/xet", xet, xet=True)]
    ds = {"data/train-%02d.csv" % i: b"id,text\n" + b"".join(b"%d,row %d\n" % (j, j) for j in range(i * 10))
          for i in range(7)}
    ds["data/big.parquet"] = bytes_of(5, 1 * MiB + 1)
    spec[("dataset", "org/ds")] = [hub.add_repo("org/ds", ds, type="dataset", xet=True)]
    gated = {"config.json": b'{"gated": true}\n', "weights.safetensors": bytes_of(6, 1 * MiB)}
    spec[("model", "org/gated")] = [hub.add_repo("org/gated", gated, gated=True, xet=True)]
    hub.grant("org/gated", GOOD)
    priv = {"secret.txt": b"private text\n", "w.bin": bytes_of(7, 512 * 1024)}
    spec[("model", "org/private")] = [hub.add_repo("org/private", priv, private=True, xet=False)]
    hub.grant("org/private", GOOD)

    out = {"url": hub.url, "cdn_url": hub.cdn_url, "cas_url": hub.cas_url, "good_token": GOOD,
           "repos": {}}
    for (rtype, rid), commits in spec.items():
        repo = hub.repo(rid, rtype)
        files = {}
        head = repo.resolve("main")
        for path, f in head.files.items():
            files[path] = {"sha256": hashlib.sha256(f.data).hexdigest(), "size": f.size,
                           "lfs": bool(f.lfs), "xet_hash": f.xet_hash, "blob": f.blob_oid}
        out["repos"]["%s/%s" % (rtype, rid)] = {"commits": commits, "tags": dict(repo.tags),
                                                "files": files}
    return out


def main():
    hub = fakehub.FakeHub(page_size=3)
    try:
        print(json.dumps(build(hub)), flush=True)
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "counters":
                ans = dict(hub.counters)
            elif cmd == "reset":
                hub.reset_counters()
                ans = {}
            elif cmd == "faults":
                hub.faults.clear()
                for k, v in json.loads(arg or "{}").items():
                    setattr(hub.faults, k, set(v) if k == "hosts" else v)
                ans = {}
            elif cmd in ("quit", ""):
                break
            else:
                ans = {"error": "unknown command %r" % cmd}
            print(json.dumps(ans), flush=True)
    finally:
        hub.close()


if __name__ == "__main__":
    main()
