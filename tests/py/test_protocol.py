"""Hub HTTP protocol conformance of `hubgate serve` (hub-protocol.md sections 2 to 6, xet-spec.md 5).

Python standard library only.  Run:
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_protocol

setUpModule imports deterministic fixtures into a private store (a model with two commits on main,
a tag, refs/pr/1, a branch with '/' in its name, a private model, a dataset, a space and a legacy
one-segment model); each TestCase class then starts its own `hubgate serve` on that store.

Every request is made with http.client exactly as the clients send it (huggingface_hub: HEAD with
Accept-Encoding: identity, quote()d revisions and paths, form-encoded paths-info; @huggingface/hub:
GET probe with Range: bytes=0-0 and the xet-fileinfo Accept, JSON paths-info; hf_xet / XetBlob:
token, reconstruction, signed xorb ranges, chunk decoding with a small LZ4 frame decoder below).
"""
import hashlib
import http.client
import json
import os
import re
import socket
import time
import unittest
import urllib.parse

import harness

# ---------------------------------------------------------------------------------------------
# Fixture data
# ---------------------------------------------------------------------------------------------

MODEL = "hubgate-test/model"
PRIVATE = "hubgate-test/private-model"
DATASET = "hubgate-test/dataset"
SPACE = "hubgate-test/space"
LEGACY = "legacy-model"

DATE1 = 1700000000   # 2023-11-14T22:13:20Z
DATE2 = 1700003600   # 2023-11-14T23:13:20Z
AUTHOR = "Test User <test@example.com>"

WEIRD = "odd name #1+50%.txt"        # needs quote(): space, '#', '+', '%'
UMLAUT = "dir with space/ü.txt"      # space in a folder, non-ASCII name
BIG = "big.dat"                      # > 10 MiB: LFS by the size rule only
ST = "model.safetensors"             # LFS by extension, exercises all three chunk schemes
PTBIN = "pytorch_model.bin"          # small LFS file
COPY = "copy.bin"                    # commit 2: two slices of model.safetensors (dedup, multi-range)

ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
LINK_RE = harness.LINK_RE


def det_bytes(seed, n):
    """Deterministic pseudo-random bytes."""
    return hashlib.shake_256(seed.encode()).digest(n)


def make_safetensors():
    """A real-looking safetensors file: header, then an incompressible tensor (scheme 0), a text-like
    one (LZ4 wins) and a float32-like one whose high bytes are constant (BG4+LZ4 wins)."""
    n = 1 << 20
    a = det_bytes("st-a", n)
    words = [w.encode() for w in ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega "
                                  "tensor weight bias layer norm attention head embed token vocab model "
                                  "config value state dict float half int8 quant scale shard").split()]
    sel = det_bytes("st-b", n // 4)
    b = bytearray()
    for i, x in enumerate(sel):
        b += words[x % len(words)]
        b += b"\n" if i % 11 == 10 else b" "
        if len(b) >= n:
            break
    b = bytes(b[:n])
    r = det_bytes("st-c", n // 2)
    c = bytearray(n)
    c[0::4] = r[0::2]
    c[1::4] = r[1::2]
    c[2::4] = b"\x80" * (n // 4)
    c[3::4] = b"\x3f" * (n // 4)
    header = json.dumps({"a": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]},
                         "b": {"dtype": "U8", "shape": [n], "data_offsets": [n, 2 * n]},
                         "c": {"dtype": "F32", "shape": [n // 4], "data_offsets": [2 * n, 3 * n]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + a + b + bytes(c)


def build_fixture_files():
    st = make_safetensors()
    common = {
        "README.md": b"---\nlicense: mit\n---\n# Test model\n\nA fixture for hubgate.\n",
        "nested/a/b/deep.txt": b"deep file\n" * 10,
        "nested/top.txt": b"top of nested\n",
        UMLAUT: "grüße aus dem Verzeichnis\n".encode(),
        WEIRD: b"odd name contents\n",
        "empty.txt": b"",
        ST: st,
        PTBIN: b"".join(b"pytorch weight %07d\n" % i for i in range(10000)),
        BIG: det_bytes("big", 10 * 1024 * 1024 + 512 * 1024),
    }
    for i in range(25):
        common["many/f%02d.txt" % i] = b"file %d\n" % i
    c1 = dict(common)
    c1["config.json"] = b'{"model_type": "test", "version": 1}\n'
    c2 = dict(common)
    c2["config.json"] = b'{"model_type": "test", "version": 2, "extra": true}\n'
    c2["added.txt"] = b"added in the second commit\n"
    c2[COPY] = st[: 1280 * 1024] + st[2304 * 1024:]
    pr = {"README.md": b"# PR readme\n", "pr-only.txt": b"only on refs/pr/1\n"}
    feat = {"README.md": b"# feature readme\n", "feature.txt": b"on feature/x\n",
            "nested/feat.txt": b"nested on feature/x\n"}
    private = {"secret.txt": b"top secret\n", "secret.safetensors": det_bytes("secret", 50000)}
    dataset = {"README.md": b"# dataset\n", "data/train.csv": b"a,b\n1,2\n3,4\n",
               "data/part-0.parquet": det_bytes("parquet", 70000)}
    space = {"README.md": b"---\nsdk: static\n---\n", "app.py": b"print('hello from the space')\n"}
    legacy = {"config.json": b'{"legacy": true}\n'}
    return dict(c1=c1, c2=c2, pr=pr, feat=feat, private=private, dataset=dataset, space=space,
                legacy=legacy)


def git_blob_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (hashlib.sha256(data).hexdigest(), len(data))).encode()


def git_tree_oid(children):
    """children: [(name, is_dir, oid_hex)] -> git tree object id (git's sort: dirs as 'name/')."""
    body = b""
    for name, is_dir, oid in sorted(children, key=lambda c: c[0].encode() + (b"/" if c[1] else b"")):
        body += (b"40000 " if is_dir else b"100644 ") + name.encode() + b"\0" + bytes.fromhex(oid)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


class Fixture:
    data = None
    tmp = None
    files = None
    commits = {}
    legacy_ok = False


FX = Fixture()


def setUpModule():
    t0 = time.time()
    FX.tmp = harness.tempdir("hubgate-proto-")
    FX.data = os.path.join(FX.tmp, "data")
    FX.files = build_fixture_files()
    for name, files in FX.files.items():
        write_tree(os.path.join(FX.tmp, "src", name), files)
    src = lambda n: os.path.join(FX.tmp, "src", n)   # noqa: E731
    imp = harness.import_dir
    FX.commits["c1"] = imp(FX.data, src("c1"), MODEL, "--tag", "v1.0", "--date", str(DATE1),
                           "--message", "initial commit\n\nwith a body", "--author", AUTHOR)
    FX.commits["c2"] = imp(FX.data, src("c2"), MODEL, "--date", str(DATE2), "--message",
                           "update config", "--author", AUTHOR)
    FX.commits["pr"] = imp(FX.data, src("pr"), MODEL, "--revision", "refs/pr/1", "--date",
                           str(DATE2 + 60), "--message", "a pull request")
    FX.commits["feat"] = imp(FX.data, src("feat"), MODEL, "--revision", "feature/x", "--date",
                             str(DATE2 + 120), "--message", "feature work")
    FX.commits["private"] = imp(FX.data, src("private"), PRIVATE, "--private", "--date", str(DATE1))
    FX.commits["dataset"] = imp(FX.data, src("dataset"), DATASET, "--type", "dataset", "--date",
                                str(DATE1))
    FX.commits["space"] = imp(FX.data, src("space"), SPACE, "--type", "space", "--date", str(DATE1))
    p = harness.run("import", "--data", FX.data, src("legacy"), LEGACY, check=False)
    FX.legacy_ok = p.returncode == 0
    FX.commits["legacy"] = p.stdout.strip()
    for k, v in FX.commits.items():
        if k != "legacy" or FX.legacy_ok:
            assert HEX40.match(v), (k, v)
    assert len(set(FX.commits[k] for k in ("c1", "c2", "pr", "feat"))) == 4, FX.commits
    FX.setup_seconds = time.time() - t0


def tearDownModule():
    if FX.tmp:
        harness.rmtree(FX.tmp)


# ---------------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------------

Resp, write_tree = harness.Resp, harness.write_tree


def parse_multipart(body, content_type):
    """multipart/byteranges -> [(start, end, total, part_headers, bytes)] (RFC 9110 14.6)."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    assert m, content_type
    delim = b"--" + m.group(1).encode()
    pos = body.find(delim)
    assert pos >= 0, "no boundary in body"
    parts = []
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break
        assert body[pos:pos + 2] == b"\r\n", body[pos:pos + 20]
        pos += 2
        hend = body.find(b"\r\n\r\n", pos)
        assert hend >= 0
        hdrs = {}
        for line in body[pos:hend].decode("latin-1").split("\r\n"):
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        pos = hend + 4
        cm = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", hdrs.get("content-range", ""))
        assert cm, hdrs
        a, e, total = int(cm.group(1)), int(cm.group(2)), int(cm.group(3))
        data = body[pos:pos + e - a + 1]
        assert len(data) == e - a + 1
        pos += e - a + 1
        parts.append((a, e, total, hdrs, data))
        assert body[pos:pos + 2] == b"\r\n", body[pos:pos + 20]
        pos += 2
        assert body[pos:pos + len(delim)] == delim, body[pos:pos + 40]
    return parts


# ---------------------------------------------------------------------------------------------
# Xet chunk decoding: LZ4 frame + block, byte grouping (xet-spec.md 3.1, 3.2)
# ---------------------------------------------------------------------------------------------

def lz4_block_decode(src, out):
    """Decodes one LZ4 block, appending to out (which holds the history for linked blocks)."""
    i, n = 0, len(src)
    while True:
        if i >= n:
            raise ValueError("lz4: truncated block")
        token = src[i]
        i += 1
        ll = token >> 4
        if ll == 15:
            while True:
                b = src[i]
                i += 1
                ll += b
                if b != 255:
                    break
        if i + ll > n:
            raise ValueError("lz4: literals overrun")
        out += src[i:i + ll]
        i += ll
        if i == n:
            return  # the last sequence has literals only
        if i + 2 > n:
            raise ValueError("lz4: truncated offset")
        off = src[i] | (src[i + 1] << 8)
        i += 2
        if off == 0 or off > len(out):
            raise ValueError("lz4: bad offset %d" % off)
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        if ml <= off:
            out += out[start:start + ml]
        else:  # overlapping copy: repeat the last off bytes
            pat = bytes(out[start:])
            out += (pat * (ml // off + 1))[:ml]


def lz4_frame_decode(data):
    if data[:4] != b"\x04\x22\x4d\x18":
        raise ValueError("lz4: bad frame magic %r" % data[:4])
    flg = data[4]
    if flg >> 6 != 1:
        raise ValueError("lz4: bad frame version")
    block_checksum, content_size, content_checksum, dict_id = flg & 0x10, flg & 0x08, flg & 0x04, flg & 0x01
    i = 6 + (8 if content_size else 0) + (4 if dict_id else 0) + 1  # FLG BD [size] [dict] HC
    out = bytearray()
    while True:
        bs = int.from_bytes(data[i:i + 4], "little")
        i += 4
        if bs == 0:
            break
        size = bs & 0x7FFFFFFF
        blk = data[i:i + size]
        if len(blk) != size:
            raise ValueError("lz4: truncated frame")
        i += size
        if bs & 0x80000000:
            out += blk
        else:
            lz4_block_decode(blk, out)
        if block_checksum:
            i += 4
    if content_checksum:
        i += 4
    if i != len(data):
        raise ValueError("lz4: %d trailing bytes after the frame" % (len(data) - i))
    if content_size and int.from_bytes(data[6:14], "little") != len(out):
        raise ValueError("lz4: content size mismatch")
    return bytes(out)


def bg4_join(g):
    n = len(g)
    q, r = divmod(n, 4)
    sizes = [q + (1 if j < r else 0) for j in range(4)]
    out = bytearray(n)
    o = 0
    for j in range(4):
        out[j::4] = g[o:o + sizes[j]]
        o += sizes[j]
    return bytes(out)


def decode_chunk_records(buf, count, schemes=None):
    """Exactly count chunk records filling buf -> [raw chunk bytes]."""
    i, chunks = 0, []
    for _ in range(count):
        hdr = buf[i:i + 8]
        if len(hdr) != 8:
            raise ValueError("record header truncated at %d" % i)
        if hdr.startswith(b"XETBLOB"):
            raise ValueError("footer where a chunk record was expected")
        version, stored = hdr[0], int.from_bytes(hdr[1:4], "little")
        scheme, raw_len = hdr[4], int.from_bytes(hdr[5:8], "little")
        if version != 0 or raw_len > 131072 or stored > 2 * 131072:
            raise ValueError("bad chunk header %s" % hdr.hex())
        payload = buf[i + 8:i + 8 + stored]
        if len(payload) != stored:
            raise ValueError("payload truncated")
        i += 8 + stored
        if scheme == 0:
            raw = payload
        elif scheme == 1:
            raw = lz4_frame_decode(payload)
        elif scheme == 2:
            raw = bg4_join(lz4_frame_decode(payload))
        else:
            raise ValueError("unknown scheme %d" % scheme)
        if len(raw) != raw_len:
            raise ValueError("decoded %d bytes, header says %d" % (len(raw), raw_len))
        if schemes is not None:
            schemes[scheme] = schemes.get(scheme, 0) + 1
        chunks.append(bytes(raw))
    if i != len(buf):
        raise ValueError("%d bytes after the last expected record" % (len(buf) - i))
    return chunks


# ---------------------------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------------------------

class HubCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(FX.data).__enter__()
        cls.port = cls.srv.port
        cls.base = cls.srv.base
        cls.c = FX.commits
        cls.f = FX.files

    @classmethod
    def tearDownClass(cls):
        alive = cls.srv.proc.poll() is None
        cls.srv.__exit__(None, None, None)
        if not alive:
            raise AssertionError("hubgate serve died during %s (log %s)" % (cls.__name__, cls.srv.log.name))

    # -- requests

    def req(self, method, path, headers=None, body=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return Resp(r.status, r.headers, data)
        finally:
            c.close()

    def get(self, path, headers=None):
        return self.req("GET", path, headers)

    def head(self, path, headers=None):
        return self.req("HEAD", path, headers)

    def url_path(self, url):
        """The request target of an absolute URL this server emitted (which must point at it)."""
        u = urllib.parse.urlsplit(url)
        self.assertEqual(u.scheme, "http", url)
        self.assertEqual(u.netloc, "127.0.0.1:%d" % self.port, url)
        return u.path + ("?" + u.query if u.query else "")

    # -- URL builders, as the clients build them

    @staticmethod
    def resolve_path(repo, rev, path, kind="resolve", prefix=""):
        """huggingface_hub hf_hub_url: quote(rev, safe=''), quote(path) (safe '/')."""
        return "/%s%s/%s/%s/%s" % (prefix, repo, kind, urllib.parse.quote(rev, safe=""),
                                   urllib.parse.quote(path))

    @staticmethod
    def api(repo, *rest, types="models"):
        return "/api/%s/%s%s" % (types, repo, "".join("/" + r for r in rest))

    # -- assertions

    def assertStatus(self, r, status, msg=None):
        self.assertEqual(r.status, status, "%s%r" % (msg + ": " if msg else "", r))

    def assertError(self, r, status, code, method="GET", message=None):
        self.assertStatus(r, status)
        self.assertEqual(r.h("X-Error-Code"), code, r)
        if message is not None:
            self.assertEqual(r.h("X-Error-Message"), message, r)
        self.assertTrue(r.h("X-Request-Id"), "X-Request-Id missing on an error: %r" % r)
        if method == "GET":
            self.assertTrue((r.h("Content-Type") or "").startswith("application/json"), r)
            body = r.json()
            self.assertIsInstance(body.get("error"), str, r)
            msg = r.h("X-Error-Message")
            if msg:
                try:  # http.client decodes header bytes as latin-1
                    msg = msg.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    pass
                self.assertEqual(body["error"], msg)
        else:
            self.assertEqual(r.body, b"")

    def assertCommit(self, r, commit):
        self.assertEqual(r.h("X-Repo-Commit"), commit, r)

    def tree(self, repo, rev, path="", types="models", **params):
        q = urllib.parse.urlencode(params)
        p = self.api(repo, "tree", urllib.parse.quote(rev, safe=""), types=types)
        if path:
            p += "/" + urllib.parse.quote(path, safe="")
        r = self.get(p + ("?" + q if q else ""))
        self.assertStatus(r, 200, p)
        return r.json()

    def all_files(self, repo="MODEL", rev="main", types="models"):
        return {e["path"]: e for e in self.tree(MODEL if repo == "MODEL" else repo, rev, types=types,
                                                recursive="true") if e["type"] == "file"}

    def health_ok(self):
        r = self.get("/health")
        self.assertStatus(r, 200)
        return True


# ---------------------------------------------------------------------------------------------
# Resolve (R1/R2/R3): what huggingface_hub's plain-HTTP path and @huggingface/hub read
# ---------------------------------------------------------------------------------------------

class TestResolve(HubCase):

    def py_head(self, path, rev="main", repo=MODEL, **kw):
        return self.head(self.resolve_path(repo, rev, path, **kw),
                         {"Accept-Encoding": "identity", "authorization": "Bearer hf_dummy",
                          "user-agent": "huggingface_hub/1.29.0; python/3.11", "X-Amzn-Trace-Id": "t-1"})

    def test_head_regular_file(self):
        data = self.f["c2"]["config.json"]
        r = self.py_head("config.json")
        self.assertStatus(r, 200)
        self.assertCommit(r, self.c["c2"])
        self.assertRegex(r.h("X-Repo-Commit"), HEX40)
        self.assertEqual(r.h("ETag"), '"%s"' % git_blob_oid(data))
        self.assertEqual(r.h("Content-Length"), str(len(data)))
        self.assertIsNone(r.h("Transfer-Encoding"))
        self.assertEqual(r.h("Accept-Ranges"), "bytes")
        self.assertIsNone(r.h("X-Linked-Etag"))
        self.assertIsNone(r.h("X-Linked-Size"))
        self.assertIn(r.h("Content-Encoding"), (None, "identity"))
        self.assertTrue(r.h("X-Request-Id"))
        self.assertEqual(r.body, b"")

    def test_head_lfs_files(self):
        for name in (ST, PTBIN, BIG, COPY):
            with self.subTest(name=name):
                data = self.f["c2"][name]
                sha = hashlib.sha256(data).hexdigest()
                r = self.py_head(name)
                self.assertStatus(r, 200)
                self.assertCommit(r, self.c["c2"])
                self.assertEqual(r.h("ETag"), '"%s"' % sha)
                self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % sha)
                self.assertEqual(r.h("X-Linked-Size"), str(len(data)))
                self.assertEqual(r.h("Content-Length"), str(len(data)))
                self.assertEqual(r.h("Accept-Ranges"), "bytes")

    def test_big_dat_is_lfs_by_size_rule(self):
        files = self.all_files()
        self.assertIn("lfs", files[BIG])
        self.assertGreater(files[BIG]["size"], 10 * 1024 * 1024)
        self.assertNotIn("lfs", files["config.json"])
        self.assertNotIn("lfs", files["empty.txt"])
        self.assertNotIn("lfs", files["README.md"])

    def test_get_full_bodies_match_source(self):
        for name, data in sorted(self.f["c2"].items()):
            with self.subTest(name=name):
                r = self.get(self.resolve_path(MODEL, "main", name))
                self.assertStatus(r, 200)
                self.assertEqual(len(r.body), len(data))
                self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(data).hexdigest())
                self.assertEqual(r.h("Content-Length"), str(len(data)))
                self.assertCommit(r, self.c["c2"])
                self.assertIn(r.h("Content-Encoding"), (None, "identity"))

    def test_get_with_gzip_accept_is_not_compressed(self):
        data = self.f["c2"]["README.md"]
        r = self.get(self.resolve_path(MODEL, "main", "README.md"), {"Accept-Encoding": "gzip, deflate, br"})
        self.assertStatus(r, 200)
        self.assertIn(r.h("Content-Encoding"), (None, "identity"))
        self.assertEqual(r.body, data)

    def test_js_unencoded_plus_in_path(self):
        # JS inserts the path raw: '+' must stay a '+', not become a space.
        data = self.f["c2"][WEIRD]
        r = self.get("/%s/resolve/main/%s" % (MODEL, "odd%20name%20%231+50%25.txt"))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, data)

    def test_unknown_query_params_ignored(self):
        r = self.get(self.resolve_path(MODEL, "main", "README.md") + "?noContentDisposition=1&download=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, self.f["c2"]["README.md"])

    def test_resume_range_open_ended(self):
        data = self.f["c2"][BIG]
        size = len(data)
        for n in (0, 1, 5 * 1024 * 1024 + 17, size - 1):
            with self.subTest(n=n):
                r = self.get(self.resolve_path(MODEL, "main", BIG), {"Range": "bytes=%d-" % n})
                self.assertStatus(r, 206)
                self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (n, size - 1, size))
                self.assertEqual(r.h("Content-Length"), str(size - n))
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(data[n:]).digest())
                self.assertEqual(r.h("ETag"), '"%s"' % hashlib.sha256(data).hexdigest())
                self.assertCommit(r, self.c["c2"])

    def test_range_slices(self):
        data = self.f["c2"][ST]
        size = len(data)
        for rng, (a, b) in (("bytes=0-99", (0, 99)), ("bytes=8-1000007", (8, 1000007)),
                            ("bytes=-100", (size - 100, size - 1)),
                            ("bytes=%d-%d" % (size - 10, size + 5000), (size - 10, size - 1))):
            with self.subTest(rng=rng):
                r = self.get(self.resolve_path(MODEL, "main", ST), {"Range": rng})
                self.assertStatus(r, 206)
                self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (a, b, size))
                self.assertEqual(r.body, data[a:b + 1])

    def test_safetensors_header_probe_is_clamped(self):
        # get_safetensors_metadata: bytes=0-100000 on a small file must be 206, clamped, not 416.
        for name in ("config.json", PTBIN):
            with self.subTest(name=name):
                data = self.f["c2"][name]
                r = self.get(self.resolve_path(MODEL, "main", name), {"range": "bytes=0-100000"})
                self.assertStatus(r, 206)
                end = min(len(data), 100001) - 1
                self.assertEqual(r.h("Content-Range"), "bytes 0-%d/%d" % (end, len(data)))
                self.assertEqual(r.body, data[:end + 1])

    def test_range_start_beyond_end_is_416(self):
        data = self.f["c2"]["config.json"]
        for rng in ("bytes=%d-" % len(data), "bytes=%d-%d" % (len(data) + 10, len(data) + 20)):
            with self.subTest(rng=rng):
                r = self.get(self.resolve_path(MODEL, "main", "config.json"), {"Range": rng})
                self.assertStatus(r, 416)
                self.assertEqual(r.h("Content-Range"), "bytes */%d" % len(data))

    def test_multi_range_multipart(self):
        data = self.f["c2"][ST]
        size = len(data)
        want = [(0, 9), (100, 199), (size - 50, size - 1), (5, 20)]  # out of order, one overlap
        hdr = "bytes=0-9,100-199,-50,5-20"
        r = self.get(self.resolve_path(MODEL, "main", ST), {"Range": hdr})
        self.assertStatus(r, 206)
        ct = r.h("Content-Type")
        self.assertTrue(ct.startswith("multipart/byteranges"), ct)
        self.assertEqual(int(r.h("Content-Length")), len(r.body))
        self.assertIsNone(r.h("Content-Range"))
        parts = parse_multipart(r.body, ct)
        self.assertEqual([(p[0], p[1]) for p in parts], want)
        for a, b, total, hdrs, body in parts:
            self.assertEqual(total, size)
            self.assertEqual(body, data[a:b + 1])

    def test_ignored_ranges_give_200(self):
        data = self.f["c2"]["README.md"]
        many = "bytes=" + ",".join("%d-%d" % (i, i) for i in range(0, 60, 2))
        for rng in ("bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "bytes=0-1,x", many,
                    "bytes=0-,0-,0-,0-"):
            with self.subTest(rng=rng[:40]):
                r = self.get(self.resolve_path(MODEL, "main", "README.md"), {"Range": rng})
                self.assertStatus(r, 200)
                self.assertEqual(r.body, data)
                self.assertIsNone(r.h("Content-Range"))

    def test_js_probe_regular_file(self):
        data = self.f["c2"]["config.json"]
        r = self.get(self.resolve_path(MODEL, "main", "config.json"),
                     {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*",
                      "Authorization": "Bearer hf_dummy"})
        self.assertStatus(r, 206)
        self.assertEqual(r.h("Content-Range"), "bytes 0-0/%d" % len(data))
        self.assertEqual(r.body, data[:1])
        self.assertEqual(r.h("ETag"), '"%s"' % git_blob_oid(data))
        self.assertNotIn("vnd.xet-fileinfo", r.h("Content-Type") or "")
        self.assertIsNone(r.h("X-Xet-Hash"))

    def test_js_probe_lfs_file_mode_d(self):
        files = self.all_files()
        for name in (ST, BIG):
            with self.subTest(name=name):
                data = self.f["c2"][name]
                r = self.get(self.resolve_path(MODEL, "main", name),
                             {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
                self.assertStatus(r, 200)
                self.assertTrue(r.h("Content-Type").startswith("application/vnd.xet-fileinfo+json"), r)
                self.assertEqual(r.h("X-Linked-Size"), str(len(data)))
                self.assertEqual(r.h("X-Xet-Hash"), files[name]["xetHash"])
                etag = r.h("X-Linked-Etag") or r.h("ETag")
                self.assertEqual(etag, '"%s"' % hashlib.sha256(data).hexdigest())
                links = r.links()
                self.assertIn("xet-auth", links)
                self.assertIn("xet-reconstruction-info", links)
                self.assertTrue(links["xet-auth"].startswith(self.base + "/"), links)
                self.assertTrue(links["xet-reconstruction-info"].startswith("http"), links)
                self.assertTrue(links["xet-reconstruction-info"].endswith("/" + files[name]["xetHash"]))
                self.assertCommit(r, self.c["c2"])
                body = r.json()  # not read by the clients; must at least be JSON
                self.assertIsInstance(body, dict)

    def test_js_probe_lfs_without_xet_accept(self):
        data = self.f["c2"][PTBIN]
        r = self.get(self.resolve_path(MODEL, "main", PTBIN), {"Range": "bytes=0-0"})
        self.assertStatus(r, 206)
        self.assertEqual(r.h("Content-Range"), "bytes 0-0/%d" % len(data))
        self.assertEqual(r.body, data[:1])

    def test_empty_file(self):
        empty_oid = git_blob_oid(b"")
        r = self.py_head("empty.txt")
        self.assertStatus(r, 200)
        self.assertEqual(r.h("Content-Length"), "0")
        self.assertEqual(r.h("ETag"), '"%s"' % empty_oid)
        r = self.get(self.resolve_path(MODEL, "main", "empty.txt"))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        # Q5: the JS probe on an empty file: 200, Content-Length 0, Content-Range bytes */0.
        r = self.get(self.resolve_path(MODEL, "main", "empty.txt"),
                     {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.h("Content-Length"), "0")
        self.assertEqual(r.h("Content-Range"), "bytes */0")
        self.assertEqual(r.h("ETag"), '"%s"' % empty_oid)

    def test_if_none_match(self):
        for name in ("config.json", ST):
            with self.subTest(name=name):
                p = self.resolve_path(MODEL, "main", name)
                etag = self.head(p).h("ETag")
                for method in ("GET", "HEAD"):
                    r = self.req(method, p, {"If-None-Match": etag})
                    self.assertStatus(r, 304, method)
                    self.assertEqual(r.body, b"")
                    self.assertEqual(r.h("ETag"), etag)
                    self.assertCommit(r, self.c["c2"])
                r = self.get(p, {"If-None-Match": '"0000000000000000000000000000000000000000"'})
                self.assertStatus(r, 200)
                r = self.get(p, {"If-None-Match": '"abc", %s' % etag})
                self.assertStatus(r, 304)

    def test_xet_advertisement_on_lfs_head(self):
        files = self.all_files()
        for name in (ST, BIG, PTBIN):
            with self.subTest(name=name):
                r = self.py_head(name)
                self.assertStatus(r, 200)
                self.assertEqual(r.h("X-Xet-Hash"), files[name]["xetHash"])
                links = r.links()
                auth = links.get("xet-auth")
                self.assertTrue(auth and auth.startswith(self.base + "/api/models/%s/xet-read-token/" % MODEL), r)
                refresh = r.h("X-Xet-Refresh-Route")
                self.assertTrue(refresh and refresh.startswith("http://"), r)
                self.assertEqual(refresh, auth)
                # The token URL works as Python / hf_xet call it (with the Hub headers).
                t = self.get(self.url_path(auth), {"authorization": "Bearer hf_dummy"})
                self.assertStatus(t, 200)
                self.assertEqual(set(t.json()), {"accessToken", "exp", "casUrl"})

    def test_no_xet_advertisement_on_regular_files(self):
        for name in ("config.json", "README.md", "empty.txt", UMLAUT):
            with self.subTest(name=name):
                for r in (self.py_head(name), self.get(self.resolve_path(MODEL, "main", name))):
                    self.assertStatus(r, 200)
                    self.assertIsNone(r.h("X-Xet-Hash"))
                    self.assertIsNone(r.h("X-Xet-Refresh-Route"))
                    self.assertNotIn("xet-auth", r.links())
                    self.assertIsNone(r.h("X-Linked-Size"))

    def test_raw_lfs_returns_pointer(self):
        files = self.all_files()
        for name in (ST, BIG):
            with self.subTest(name=name):
                data = self.f["c2"][name]
                ptr = lfs_pointer(data)
                p = self.resolve_path(MODEL, "main", name, kind="raw")
                r = self.get(p)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, ptr)
                self.assertEqual(r.h("ETag"), '"%s"' % git_blob_oid(ptr))
                self.assertEqual(r.h("ETag"), '"%s"' % files[name]["oid"])
                self.assertEqual(len(ptr), files[name]["lfs"]["pointerSize"])
                self.assertIsNone(r.h("X-Linked-Size"))
                self.assertIsNone(r.h("X-Xet-Hash"))
                self.assertCommit(r, self.c["c2"])
                h = self.head(p)
                self.assertStatus(h, 200)
                self.assertEqual(h.h("Content-Length"), str(len(ptr)))
                # never mode D on raw
                j = self.get(p, {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
                self.assertStatus(j, 206)
                self.assertEqual(j.h("Content-Range"), "bytes 0-0/%d" % len(ptr))

    def test_raw_regular_file(self):
        data = self.f["c2"][UMLAUT]
        p = self.resolve_path(MODEL, "main", UMLAUT, kind="raw")
        r = self.get(p)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.h("ETag"), '"%s"' % git_blob_oid(data))
        # JS fileExists: HEAD raw, 200 / 404
        self.assertStatus(self.head(p), 200)
        r = self.head(self.resolve_path(MODEL, "main", "nope.txt", kind="raw"))
        self.assertError(r, 404, "EntryNotFound", method="HEAD")

    def test_datasets_spaces_and_legacy_prefixes(self):
        cases = [("datasets/", DATASET, "dataset", "data/train.csv"),
                 ("datasets/", DATASET, "dataset", "data/part-0.parquet"),
                 ("spaces/", SPACE, "space", "app.py")]
        if FX.legacy_ok:
            cases.append(("", LEGACY, "legacy", "config.json"))
        for prefix, repo, key, name in cases:
            with self.subTest(repo=repo, name=name):
                data = self.f[key][name]
                r = self.get(self.resolve_path(repo, "main", name, prefix=prefix))
                self.assertStatus(r, 200)
                self.assertEqual(r.body, data)
                self.assertCommit(r, self.c[key])
        # the type prefix is part of the repo identity
        r = self.head(self.resolve_path(DATASET, "main", "data/train.csv"))
        self.assertError(r, 401, "RepoNotFound", method="HEAD")

    def test_consistency_head_vs_tree_everywhere(self):
        # 5.5: resolve X-Linked-Etag = tree lfs.oid, X-Linked-Size = size, ETag = tree oid.
        for prefix, repo, types in (("", MODEL, "models"), ("datasets/", DATASET, "datasets"),
                                    ("spaces/", SPACE, "spaces")):
            entries = self.tree(repo, "main", types=types, recursive="true")
            for e in entries:
                if e["type"] != "file":
                    continue
                with self.subTest(repo=repo, path=e["path"]):
                    r = self.head(self.resolve_path(repo, "main", e["path"], prefix=prefix))
                    self.assertStatus(r, 200)
                    if "lfs" in e:
                        self.assertEqual(r.h("ETag"), '"%s"' % e["lfs"]["oid"])
                        self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % e["lfs"]["oid"])
                        self.assertEqual(r.h("X-Linked-Size"), str(e["lfs"]["size"]))
                        self.assertEqual(r.h("X-Xet-Hash"), e["xetHash"])
                    else:
                        self.assertEqual(r.h("ETag"), '"%s"' % e["oid"])
                        self.assertIsNone(r.h("X-Xet-Hash"))
                    self.assertEqual(r.h("Content-Length"), str(e["size"]))


# ---------------------------------------------------------------------------------------------
# Revisions (2.1, 5.1, 5.2)
# ---------------------------------------------------------------------------------------------

class TestRevisions(HubCase):

    def rev_forms(self):
        """(label, raw URL segment(s), expected commit, key of the files)"""
        c = self.c
        return [
            ("branch", "main", c["c2"], "c2"),
            ("tag", "v1.0", c["c1"], "c1"),
            ("full commit", c["c1"], c["c1"], "c1"),
            ("7-hex prefix", c["c1"][:7], c["c1"], "c1"),
            ("12-hex prefix", c["c2"][:12], c["c2"], "c2"),
            ("refs/pr/1 raw", "refs/pr/1", c["pr"], "pr"),
            ("refs/pr/1 encoded", "refs%2Fpr%2F1", c["pr"], "pr"),
            ("slash branch encoded", "feature%2Fx", c["feat"], "feat"),
        ]

    def test_resolve_each_rev_form(self):
        for label, seg, commit, key in self.rev_forms():
            with self.subTest(rev=label):
                name = "README.md"
                r = self.get("/%s/resolve/%s/%s" % (MODEL, seg, name))
                self.assertStatus(r, 200)
                self.assertCommit(r, commit)
                self.assertEqual(r.body, self.f[key][name])
                h = self.head("/%s/resolve/%s/%s" % (MODEL, seg, name), {"Accept-Encoding": "identity"})
                self.assertStatus(h, 200)
                self.assertCommit(h, commit)

    def test_resolve_rev_specific_files(self):
        c = self.c
        for seg, name, commit in (("v1.0", "config.json", c["c1"]), ("refs%2Fpr%2F1", "pr-only.txt", c["pr"]),
                                  ("refs/pr/1", "pr-only.txt", c["pr"]), ("feature%2Fx", "nested/feat.txt", c["feat"])):
            with self.subTest(rev=seg, name=name):
                key = {c["c1"]: "c1", c["pr"]: "pr", c["feat"]: "feat"}[commit]
                r = self.get("/%s/resolve/%s/%s" % (MODEL, seg, name))
                self.assertStatus(r, 200)
                self.assertEqual(r.body, self.f[key][name])
        # a file that does not exist on that revision
        r = self.head("/%s/resolve/v1.0/added.txt" % MODEL)
        self.assertError(r, 404, "EntryNotFound", method="HEAD")
        self.assertCommit(r, c["c1"])

    def test_revision_route_each_form(self):
        for label, seg, commit, key in self.rev_forms() + [("HEAD", "HEAD", self.c["c2"], "c2")]:
            with self.subTest(rev=label):
                r = self.get(self.api(MODEL, "revision", seg))
                self.assertStatus(r, 200)
                info = r.json()
                self.assertEqual(info["sha"], commit)
                self.assertEqual(info["id"], MODEL)
                files = {s["rfilename"] for s in info["siblings"]} - {".gitattributes"}
                self.assertEqual(files, set(self.f[key]))

    def test_tree_each_form(self):
        for label, seg, commit, key in self.rev_forms():
            with self.subTest(rev=label):
                r = self.get(self.api(MODEL, "tree", seg) + "?recursive=true&expand=false")
                self.assertStatus(r, 200)
                files = {e["path"] for e in r.json() if e["type"] == "file"} - {".gitattributes"}
                self.assertEqual(files, set(self.f[key]))

    def test_tree_folder_with_rev_forms(self):
        # refs/pr/1 raw followed by nothing, feature%2Fx followed by a folder, and JS's raw forms.
        r = self.get(self.api(MODEL, "tree", "feature%2Fx", "nested"))
        self.assertStatus(r, 200)
        self.assertEqual([e["path"] for e in r.json()], ["nested/feat.txt"])
        r = self.get(self.api(MODEL, "tree", "refs/pr/1"))
        self.assertStatus(r, 200)
        self.assertIn("pr-only.txt", {e["path"] for e in r.json()})
        # JS listFiles sends the revision raw (Q3: the longest known ref wins)
        r = self.get(self.api(MODEL, "tree", "feature/x", "nested"))
        self.assertStatus(r, 200)
        self.assertEqual([e["path"] for e in r.json()], ["nested/feat.txt"])
        r = self.get(self.api(MODEL, "tree", "feature/x") + "?recursive=true")
        self.assertStatus(r, 200)
        self.assertIn("feature.txt", {e["path"] for e in r.json()})

    def test_paths_info_each_form(self):
        body = "paths=README.md&paths=pr-only.txt&paths=feature.txt&paths=added.txt&expand=false"
        for label, seg, commit, key in self.rev_forms():
            with self.subTest(rev=label):
                r = self.req("POST", self.api(MODEL, "paths-info", seg), {
                    "Content-Type": "application/x-www-form-urlencoded"}, body)
                self.assertStatus(r, 200)
                got = {e["path"] for e in r.json()}
                self.assertEqual(got, {"README.md", "pr-only.txt", "feature.txt", "added.txt"} & set(self.f[key]))

    def test_cache_control(self):
        c = self.c
        for seg in ("main", "v1.0", "feature%2Fx", "refs%2Fpr%2F1"):
            with self.subTest(rev=seg):
                r = self.head("/%s/resolve/%s/README.md" % (MODEL, seg))
                self.assertStatus(r, 200)
                self.assertIn("no-cache", r.h("Cache-Control") or "", "branch/tag responses are mutable")
        for commit in (c["c1"], c["c2"]):
            with self.subTest(rev=commit):
                r = self.head("/%s/resolve/%s/README.md" % (MODEL, commit))
                self.assertStatus(r, 200)
                cc = r.h("Cache-Control") or ""
                self.assertNotIn("no-cache", cc)
                self.assertTrue("immutable" in cc or "max-age" in cc, cc)

    def test_commit_ids_are_lowercase_full(self):
        r = self.head("/%s/resolve/%s/README.md" % (MODEL, self.c["c1"][:8]))
        self.assertStatus(r, 200)
        self.assertRegex(r.h("X-Repo-Commit"), HEX40)
        self.assertEqual(r.h("X-Repo-Commit"), self.c["c1"])
        info = self.get(self.api(MODEL, "revision", self.c["c1"][:8])).json()
        self.assertEqual(info["sha"], self.c["c1"])

    def test_missing_revisions(self):
        for seg, shown in (("nope", "nope"), ("refs%2Fpr%2F9", "refs/pr/9"), ("refs/pr/9", "refs/pr/9"),
                           ("v9.9.9", "v9.9.9"), ("0" * 40, "0" * 40)):
            with self.subTest(rev=seg):
                msg = "Invalid rev id: %s" % shown
                self.assertError(self.get("/%s/resolve/%s/README.md" % (MODEL, seg)), 404, "RevisionNotFound",
                                 message=msg)
                self.assertError(self.head("/%s/resolve/%s/README.md" % (MODEL, seg)), 404, "RevisionNotFound",
                                 method="HEAD", message=msg)
                self.assertError(self.get(self.api(MODEL, "revision", seg)), 404, "RevisionNotFound", message=msg)
                self.assertError(self.get(self.api(MODEL, "tree", seg)), 404, "RevisionNotFound", message=msg)
                self.assertError(self.req("POST", self.api(MODEL, "paths-info", seg),
                                          {"Content-Type": "application/x-www-form-urlencoded"}, "paths=README.md"),
                                 404, "RevisionNotFound", message=msg)
                self.assertError(self.get(self.api(MODEL, "xet-read-token", seg)), 404, "RevisionNotFound")


# ---------------------------------------------------------------------------------------------
# Error contract (4.2)
# ---------------------------------------------------------------------------------------------

class TestErrors(HubCase):

    def test_missing_repo_without_token_401(self):
        for p in ("/nobody/nothing/resolve/main/config.json", "/api/models/nobody/nothing",
                  "/api/models/nobody/nothing/revision/main", "/api/models/nobody/nothing/tree/main",
                  "/api/datasets/nobody/nothing", "/datasets/nobody/nothing/resolve/main/x.csv",
                  "/spaces/nobody/nothing/resolve/main/app.py", "/api/models/nobody/nothing/refs",
                  "/api/models/nobody/nothing/xet-read-token/main"):
            with self.subTest(path=p):
                self.assertError(self.get(p), 401, "RepoNotFound")
                self.assertError(self.head(p), 401, "RepoNotFound", method="HEAD")

    def test_missing_repo_with_token_404(self):
        auth = {"Authorization": "Bearer hf_x"}
        for p in ("/nobody/nothing/resolve/main/config.json", "/api/models/nobody/nothing",
                  "/api/spaces/nobody/nothing/tree/main"):
            with self.subTest(path=p):
                self.assertError(self.get(p, auth), 404, "RepoNotFound")
                self.assertError(self.head(p, auth), 404, "RepoNotFound", method="HEAD")
        r = self.req("POST", "/api/models/nobody/nothing/paths-info/main",
                     dict(auth, **{"Content-Type": "application/json"}), '{"paths": ["a"]}')
        self.assertError(r, 404, "RepoNotFound")

    def test_missing_file_entry_not_found(self):
        for p in (self.resolve_path(MODEL, "main", "nope.json"), self.resolve_path(MODEL, "main", "nested/nope"),
                  self.resolve_path(MODEL, "main", "nested"),  # a folder is not a file
                  self.resolve_path(MODEL, self.c["c1"], "added.txt")):
            with self.subTest(path=p):
                commit = self.c["c1"] if self.c["c1"] in p else self.c["c2"]
                r = self.get(p)
                self.assertError(r, 404, "EntryNotFound")
                self.assertCommit(r, commit)
                r = self.head(p, {"Accept-Encoding": "identity"})
                self.assertError(r, 404, "EntryNotFound", method="HEAD")
                self.assertCommit(r, commit)

    def test_missing_tree_folder(self):
        r = self.get(self.api(MODEL, "tree", "main", "no-such-folder") + "?recursive=false&expand=false")
        self.assertError(r, 404, "EntryNotFound")
        self.assertIn("no-such-folder", r.h("X-Error-Message"))
        r = self.get(self.api(MODEL, "tree", "main", urllib.parse.quote("nested/nope", safe="")))
        self.assertError(r, 404, "EntryNotFound")

    def test_missing_tree_folder_non_ascii_name_error_body(self):
        # The error body must stay {"error": ...} whatever the (decoded) path holds.
        for seg in ("%C3%BC-missing", "%FF%FE"):
            with self.subTest(seg=seg):
                r = self.get(self.api(MODEL, "tree", "main", seg))
                self.assertError(r, 404, "EntryNotFound")

    def test_crlf_in_revision_cannot_inject_headers(self):
        r = self.get("/%s/resolve/main%%0d%%0aX-Injected:%%20yes/README.md" % MODEL)
        self.assertError(r, 404, "RevisionNotFound")
        self.assertIsNone(r.h("X-Injected"))
        self.assertNotIn("\n", r.h("X-Error-Message"))

    def test_private_repo_hidden_without_token(self):
        # 2.11: private repos MUST be hidden exactly as in 4.2 (401 RepoNotFound without a token).
        for p in ("/api/models/%s" % PRIVATE, "/%s/resolve/main/secret.txt" % PRIVATE,
                  "/api/models/%s/tree/main" % PRIVATE, "/api/models/%s/xet-read-token/main" % PRIVATE):
            with self.subTest(path=p):
                self.assertError(self.get(p), 401, "RepoNotFound")

    def test_private_flag_in_info(self):
        r = self.get("/api/models/%s" % PRIVATE, {"Authorization": "Bearer hf_x"})
        if r.status == 200:
            self.assertIs(r.json()["private"], True)
        else:
            self.assertIn(r.status, (401, 403, 404))
        self.assertIs(self.get(self.api(MODEL)).json()["private"], False)


# ---------------------------------------------------------------------------------------------
# JSON API (2.5 to 2.7, R11, R14)
# ---------------------------------------------------------------------------------------------

class TestApi(HubCase):

    def test_repo_info(self):
        for path in (self.api(MODEL), self.api(MODEL, "revision", "main"),
                     self.api(MODEL) + "?expand=sha&expand=private&expand=lastModified"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertStatus(r, 200)
                self.assertTrue(r.h("Content-Type").startswith("application/json"))
                info = r.json()
                self.assertEqual(info["id"], MODEL)
                self.assertEqual(info["sha"], self.c["c2"])
                self.assertIs(info["private"], False)
                self.assertRegex(info["lastModified"], ISO_RE)
                self.assertRegex(info["createdAt"], ISO_RE)
                self.assertTrue(info["lastModified"].startswith(iso(DATE2)), info["lastModified"])
                sib = [s["rfilename"] for s in info["siblings"]]
                self.assertEqual(len(sib), len(set(sib)))
                tree_files = {e["path"] for e in self.tree(MODEL, "main", recursive="true") if e["type"] == "file"}
                self.assertEqual(set(sib), tree_files)
                self.assertEqual(set(sib) - {".gitattributes"}, set(self.f["c2"]))

    def test_repo_info_blobs(self):
        info = self.get(self.api(MODEL, "revision", "main") + "?blobs=true").json()
        tree = self.all_files()
        for s in info["siblings"]:
            with self.subTest(path=s["rfilename"]):
                e = tree[s["rfilename"]]
                self.assertEqual(s["size"], e["size"])
                self.assertEqual(s["blobId"], e["oid"])
                if "lfs" in e:
                    self.assertEqual(s["lfs"], {"size": e["lfs"]["size"], "sha256": e["lfs"]["oid"],
                                                "pointerSize": e["lfs"]["pointerSize"]})
                else:
                    self.assertNotIn("lfs", s)

    def test_repo_info_other_types(self):
        cases = [("datasets", DATASET, "dataset"), ("spaces", SPACE, "space")]
        if FX.legacy_ok:
            cases.append(("models", LEGACY, "legacy"))
        for types, repo, key in cases:
            with self.subTest(repo=repo):
                for p in (self.api(repo, types=types), self.api(repo, "revision", "main", types=types)):
                    r = self.get(p)
                    self.assertStatus(r, 200)
                    info = r.json()
                    self.assertEqual(info["id"], repo)
                    self.assertEqual(info["sha"], self.c[key])
                    self.assertEqual({s["rfilename"] for s in info["siblings"]} - {".gitattributes"},
                                     set(self.f[key]))
                    self.assertRegex(info["lastModified"], ISO_RE)

    def check_entry(self, e, files):
        """Tree / paths-info entry schema against the source files (dict path -> bytes)."""
        self.assertIn(e["type"], ("file", "directory"))
        self.assertIsInstance(e["path"], str)
        self.assertRegex(e["oid"], HEX40)
        self.assertIsInstance(e["size"], int)
        if e["type"] == "directory":
            self.assertEqual(e["size"], 0)
            self.assertNotIn("lfs", e)
            self.assertNotIn("xetHash", e)
            return
        if e["path"] == ".gitattributes":
            return
        data = files[e["path"]]
        self.assertEqual(e["size"], len(data))
        if "lfs" in e:
            self.assertEqual(set(e["lfs"]), {"oid", "size", "pointerSize"})
            self.assertEqual(e["lfs"]["oid"], hashlib.sha256(data).hexdigest())
            self.assertEqual(e["lfs"]["size"], len(data))
            ptr = lfs_pointer(data)
            self.assertEqual(e["lfs"]["pointerSize"], len(ptr))
            self.assertEqual(e["oid"], git_blob_oid(ptr))
            self.assertRegex(e["xetHash"], HEX64)
        else:
            self.assertEqual(e["oid"], git_blob_oid(data))
            self.assertNotIn("xetHash", e)

    def test_tree_recursive_schema_and_git_oids(self):
        entries = self.tree(MODEL, "main", recursive="true", expand="false")
        paths = [e["path"] for e in entries]
        self.assertEqual(len(paths), len(set(paths)))
        files = self.f["c2"]
        for e in entries:
            with self.subTest(path=e["path"]):
                self.check_entry(e, files)
        self.assertEqual({p for p in paths if p != ".gitattributes" and
                          next(e for e in entries if e["path"] == p)["type"] == "file"}, set(files))
        dirs = {e["path"]: e for e in entries if e["type"] == "directory"}
        self.assertEqual(set(dirs), {"nested", "nested/a", "nested/a/b", "dir with space", "many"})
        # directory oids are real git tree ids of their children
        by_parent = {}
        for e in entries:
            parent, _, name = e["path"].rpartition("/")
            by_parent.setdefault(parent, []).append((name, e["type"] == "directory", e["oid"]))
        for d, e in dirs.items():
            with self.subTest(tree=d):
                self.assertEqual(e["oid"], git_tree_oid(by_parent[d]))

    def test_tree_non_recursive_and_folders(self):
        top = self.tree(MODEL, "main")
        self.assertTrue(all("/" not in e["path"] for e in top))
        self.assertIn("nested", {e["path"] for e in top if e["type"] == "directory"})
        self.assertIn(ST, {e["path"] for e in top if e["type"] == "file"})
        # Python: quote(path, safe="") => nested%2Fa ; JS: raw nested/a
        for seg in ("nested%2Fa", "nested/a"):
            with self.subTest(seg=seg):
                r = self.get(self.api(MODEL, "tree", "main", seg) + "?recursive=false&expand=false")
                self.assertStatus(r, 200)
                self.assertEqual([(e["path"], e["type"]) for e in r.json()], [("nested/a/b", "directory")])
                r = self.get(self.api(MODEL, "tree", "main", seg) + "?recursive=true&expand=false")
                self.assertStatus(r, 200)
                self.assertEqual(sorted(e["path"] for e in r.json()), ["nested/a/b", "nested/a/b/deep.txt"])
        r = self.get(self.api(MODEL, "tree", "main", "dir%20with%20space"))
        self.assertStatus(r, 200)
        self.assertEqual([e["path"] for e in r.json()], [UMLAUT])

    def test_tree_bool_forms(self):
        rec = len(self.tree(MODEL, "main", recursive="true"))
        flat = len(self.tree(MODEL, "main", recursive="false"))
        self.assertGreater(rec, flat)
        for v, n in (("True", rec), ("1", rec), ("TRUE", rec), ("False", flat), ("0", flat)):
            with self.subTest(recursive=v):
                self.assertEqual(len(self.tree(MODEL, "main", recursive=v, expand="False")), n)
        for v, has in (("True", True), ("1", True), ("true", True), ("False", False), ("0", False)):
            with self.subTest(expand=v):
                entries = self.tree(MODEL, "main", recursive="false", expand=v)
                self.assertEqual(all("lastCommit" in e for e in entries), has)
                self.assertEqual(any("lastCommit" in e for e in entries), has)

    def test_tree_expand_last_commit(self):
        c = self.c
        entries = {e["path"]: e for e in self.tree(MODEL, "main", recursive="true", expand="true")}
        expect = {"config.json": (c["c2"], "update config", DATE2), "added.txt": (c["c2"], "update config", DATE2),
                  "README.md": (c["c1"], "initial commit", DATE1),
                  "many/f03.txt": (c["c1"], "initial commit", DATE1), ST: (c["c1"], "initial commit", DATE1)}
        for path, e in entries.items():
            with self.subTest(path=path):
                lc = e.get("lastCommit")
                self.assertIsInstance(lc, dict, e)
                self.assertEqual(set(lc), {"id", "title", "date"})
                self.assertRegex(lc["id"], HEX40)
                self.assertRegex(lc["date"], ISO_RE)
                if path in expect:
                    cid, title, date = expect[path]
                    self.assertEqual(lc["id"], cid)
                    self.assertEqual(lc["title"], title)
                    self.assertTrue(lc["date"].startswith(iso(date)), lc)

    def follow_pages(self, first):
        """Python paginate(): GET the next URL verbatim, no re-sent params; returns (entries, pages)."""
        url, out, pages = first, [], 0
        while url:
            r = self.get(url)
            self.assertStatus(r, 200, url)
            out.extend(r.json())
            pages += 1
            self.assertLess(pages, 200, "pagination does not end")
            nxt = None
            for v in r.all("Link"):
                m = LINK_RE.findall(v)
                self.assertTrue(m, "Link not parseable by the JS regex: %r" % v)
                nxt = dict((rel, u) for u, rel in m).get("next", nxt)
            url = self.url_path(nxt) if nxt else None
        return out, pages

    def test_tree_pagination(self):
        cases = [
            (self.api(MODEL, "tree", "main"), "recursive=true&expand=false", 2),
            (self.api(MODEL, "tree", "main"), "recursive=True&expand=True", 3),
            (self.api(MODEL, "tree", "main", "many"), "recursive=false&expand=false", 7),
            (self.api(MODEL, "tree", "feature%2Fx"), "recursive=true&expand=false", 1),
            (self.api(MODEL, "tree", "main", "dir%20with%20space"), "recursive=true", 1),
            (self.api(MODEL, "tree", "refs%2Fpr%2F1"), "recursive=true", 1),
        ]
        for base, q, limit in cases:
            with self.subTest(base=base, q=q, limit=limit):
                full = self.get(base + "?" + q)
                self.assertStatus(full, 200)
                self.assertEqual(full.all("Link"), [], "no Link on a complete listing")
                expect = full.json()
                got, pages = self.follow_pages(base + "?" + q + "&limit=%d" % limit)
                self.assertEqual(got, expect)
                self.assertEqual(pages, max(1, -(-len(expect) // limit)))
                paths = [e["path"] for e in got]
                self.assertEqual(len(paths), len(set(paths)))
                if "expand=True" in q:
                    self.assertTrue(all("lastCommit" in e for e in got), "expand lost on later pages")

    def test_pagination_link_format(self):
        r = self.get(self.api(MODEL, "tree", "main") + "?recursive=true&expand=false&limit=2")
        self.assertStatus(r, 200)
        links = r.all("Link")
        self.assertEqual(len(links), 1)
        m = re.fullmatch(r'<(http://127\.0\.0\.1:%d/[^>]+)>; rel="next"' % self.port, links[0])
        self.assertTrue(m, links[0])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(m.group(1)).query)
        self.assertEqual(q.get("recursive"), ["true"])
        self.assertEqual(q.get("expand"), ["false"])
        self.assertNotIn(",", m.group(1))

    def paths_info(self, rev, body, ctype, repo=MODEL, types="models"):
        r = self.req("POST", self.api(repo, "paths-info", urllib.parse.quote(rev, safe=""), types=types),
                     {"Content-Type": ctype, "Accept": "application/json"}, body)
        self.assertStatus(r, 200)
        return r.json()

    def test_paths_info_form_body(self):
        tree = {e["path"]: e for e in self.tree(MODEL, "main", recursive="true")}
        paths = ["config.json", UMLAUT, ST, "nested/a", "missing.txt", "nested/nope/x", WEIRD]
        body = urllib.parse.urlencode([("paths", p) for p in paths] + [("expand", "false")])
        got = self.paths_info("main", body, "application/x-www-form-urlencoded")
        self.assertEqual(sorted(e["path"] for e in got), sorted(["config.json", UMLAUT, ST, "nested/a", WEIRD]))
        for e in got:
            with self.subTest(path=e["path"]):
                self.assertEqual(e, tree[e["path"]])
        # expand=true (Python form) adds lastCommit
        body = urllib.parse.urlencode([("paths", "config.json"), ("expand", "true")])
        got = self.paths_info("main", body, "application/x-www-form-urlencoded")
        self.assertEqual(got[0]["lastCommit"]["id"], self.c["c2"])
        # expand missing: false (Q10)
        got = self.paths_info("main", "paths=README.md", "application/x-www-form-urlencoded")
        self.assertEqual([e["path"] for e in got], ["README.md"])
        self.assertNotIn("lastCommit", got[0])

    def test_paths_info_json_body(self):
        tree = {e["path"]: e for e in self.tree(MODEL, "main", recursive="true", expand="true")}
        got = self.paths_info("main", json.dumps({"paths": [BIG, "README.md", "nope"], "expand": True}),
                              "application/json")
        self.assertEqual(sorted(e["path"] for e in got), sorted([BIG, "README.md"]))
        for e in got:
            with self.subTest(path=e["path"]):
                self.assertEqual(e, tree[e["path"]])
                self.assertEqual(set(e["lastCommit"]), {"id", "title", "date"})
        # JS omits expand; paths may be a single string (OAS)
        got = self.paths_info("main", json.dumps({"paths": PTBIN}), "application/json")
        self.assertEqual([e["path"] for e in got], [PTBIN])
        self.assertNotIn("lastCommit", got[0])
        self.assertEqual(got[0]["lfs"]["oid"], hashlib.sha256(self.f["c2"][PTBIN]).hexdigest())
        got = self.paths_info("main", json.dumps({"paths": []}), "application/json")
        self.assertEqual(got, [])
        got = self.paths_info(self.c["c1"], json.dumps({"paths": ["config.json"], "expand": True}),
                              "application/json; charset=utf-8")
        self.assertEqual(got[0]["oid"], git_blob_oid(self.f["c1"]["config.json"]))
        self.assertEqual(got[0]["lastCommit"]["id"], self.c["c1"])

    def test_paths_info_other_types(self):
        got = self.paths_info("main", json.dumps({"paths": ["data/part-0.parquet", "data"]}), "application/json",
                              repo=DATASET, types="datasets")
        self.assertEqual(sorted((e["path"], e["type"]) for e in got),
                         [("data", "directory"), ("data/part-0.parquet", "file")])

    def test_refs(self):
        c = self.c
        r = self.get(self.api(MODEL, "refs"))
        self.assertStatus(r, 200)
        refs = r.json()
        br = {b["name"]: b for b in refs["branches"]}
        self.assertEqual(br["main"]["targetCommit"], c["c2"])
        self.assertEqual(br["main"]["ref"], "refs/heads/main")
        self.assertEqual(br["feature/x"]["targetCommit"], c["feat"])
        self.assertEqual(br["feature/x"]["ref"], "refs/heads/feature/x")
        tags = {t["name"]: t for t in refs["tags"]}
        self.assertEqual(tags["v1.0"]["targetCommit"], c["c1"])
        self.assertEqual(tags["v1.0"]["ref"], "refs/tags/v1.0")
        self.assertIsInstance(refs.get("converts"), list)
        self.assertFalse(refs.get("pullRequests"))
        for q in ("include_prs=1", "include_prs=true", "include_prs=True"):
            with self.subTest(q=q):
                refs = self.get(self.api(MODEL, "refs") + "?" + q).json()
                prs = {p["ref"]: p for p in refs["pullRequests"]}
                self.assertEqual(prs["refs/pr/1"]["targetCommit"], c["pr"])

    def test_commits(self):
        c = self.c
        r = self.get(self.api(MODEL, "commits", "main"))
        self.assertStatus(r, 200)
        commits = r.json()
        self.assertEqual([x["id"] for x in commits], [c["c2"], c["c1"]])
        self.assertEqual(commits[0]["title"], "update config")
        self.assertEqual(commits[1]["title"], "initial commit")
        for x in commits:
            self.assertRegex(x["date"], ISO_RE)
            self.assertIsInstance(x["message"], str)
            self.assertEqual([a["user"] for a in x["authors"]], ["Test User"])
        self.assertTrue(commits[0]["date"].startswith(iso(DATE2)))
        # with Link pagination (limit=1)
        got, pages = self.follow_pages(self.api(MODEL, "commits", "main") + "?limit=1")
        self.assertEqual([x["id"] for x in got], [c["c2"], c["c1"]])
        self.assertEqual(pages, 2)
        for seg, cid in (("refs/pr/1", c["pr"]), ("refs%2Fpr%2F1", c["pr"]), ("feature%2Fx", c["feat"]),
                         ("v1.0", c["c1"])):
            with self.subTest(rev=seg):
                r = self.get(self.api(MODEL, "commits", seg))
                self.assertStatus(r, 200)
                self.assertEqual(r.json()[0]["id"], cid)

    def test_api_headers(self):
        for p in (self.api(MODEL), self.api(MODEL, "tree", "main"), self.api(MODEL, "refs")):
            with self.subTest(path=p):
                r = self.get(p)
                self.assertEqual(r.h("Content-Type"), "application/json; charset=utf-8")
                self.assertTrue(r.h("X-Request-Id"))
        r = self.req("OPTIONS", self.resolve_path(MODEL, "main", "README.md"),
                     {"Origin": "https://example.com", "Access-Control-Request-Method": "GET",
                      "Access-Control-Request-Headers": "authorization, range"})
        self.assertIn(r.status, (200, 204))
        self.assertTrue(r.h("Access-Control-Allow-Origin"))
        allow = (r.h("Access-Control-Allow-Headers") or "").lower()
        for h in ("authorization", "range", "accept", "content-type"):
            self.assertIn(h, allow)
        expose = (self.head(self.resolve_path(MODEL, "main", ST)).h("Access-Control-Expose-Headers") or "").lower()
        for h in ("x-repo-commit", "etag", "x-linked-size", "x-linked-etag", "x-xet-hash", "link", "content-range"):
            self.assertIn(h, expose)


# ---------------------------------------------------------------------------------------------
# Xet read path (2.8 to 2.10, 3.7; xet-spec 5)
# ---------------------------------------------------------------------------------------------

class TestXet(HubCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.schemes = {}

    def token(self, rev="main", repo=MODEL, types="models"):
        r = self.get(self.api(repo, "xet-read-token", urllib.parse.quote(rev, safe=""), types=types),
                     {"Authorization": "Bearer hf_dummy"})
        self.assertStatus(r, 200)
        return r.json()

    def xet_hash(self, name, repo=MODEL, rev="main", types="models"):
        return {e["path"]: e for e in self.tree(repo, rev, types=types, recursive="true")}[name]["xetHash"]

    def recon(self, tok, xh, path="/v2/reconstructions/", rng=None, expect=200):
        h = {"Authorization": "Bearer " + tok["accessToken"], "user-agent": "hf_xet/1.5"}
        if rng:
            h["Range"] = rng
        r = self.get(self.url_path(tok["casUrl"] + path + xh) if tok["casUrl"] else path + xh, h)
        self.assertStatus(r, expect, path)
        return r

    def fetch_and_assemble(self, rec, v2=True):
        """hf_xet / XetBlob: fetch each entry with exactly its Range, decode, check, reassemble."""
        if v2:
            self.assertEqual(set(rec), {"offset_into_first_range", "terms", "xorbs"})
            entries = [(xh, e["url"], [(g["chunks"]["start"], g["chunks"]["end"], g["bytes"]["start"],
                                        g["bytes"]["end"]) for g in e["ranges"]])
                       for xh, es in rec["xorbs"].items() for e in es]
        else:
            self.assertEqual(set(rec), {"offset_into_first_range", "terms", "fetch_info"})
            entries = [(xh, e["url"], [(e["range"]["start"], e["range"]["end"], e["url_range"]["start"],
                                        e["url_range"]["end"])])
                       for xh, es in rec["fetch_info"].items() for e in es]
        urls = [u for _, u, _ in entries]
        self.assertEqual(len(urls), len(set(urls)), "fetch entries must have distinct URLs (JS dedups by URL)")
        chunks, multi = {}, 0
        for xh, url, ranges in entries:
            self.assertRegex(xh, HEX64)
            self.assertTrue(url.startswith(self.base + "/xorbs/default/" + xh + "?"), url)
            self.assertEqual([g[0] for g in ranges], sorted(g[0] for g in ranges))
            hdr = "bytes=" + ",".join("%d-%d" % (g[2], g[3]) for g in ranges)
            r = self.get(self.url_path(url), {"Range": hdr})   # no Authorization on xorb URLs
            self.assertStatus(r, 206, hdr)
            if len(ranges) == 1:
                cs, ce, bs, be = ranges[0]
                self.assertRegex(r.h("Content-Range"), r"^bytes %d-%d/\d+$" % (bs, be))
                bodies = [r.body]
            else:
                multi += 1
                ct = r.h("Content-Type")
                self.assertTrue(ct.startswith("multipart/byteranges"), ct)
                parts = parse_multipart(r.body, ct)
                self.assertEqual([(p[0], p[1]) for p in parts], [(g[2], g[3]) for g in ranges])
                bodies = [p[4] for p in parts]
            for (cs, ce, bs, be), body in zip(ranges, bodies):
                self.assertEqual(len(body), be - bs + 1)
                for k, raw in enumerate(decode_chunk_records(body, ce - cs, self.schemes)):
                    chunks[(xh, cs + k)] = raw
        out = bytearray()
        for t in rec["terms"]:
            self.assertEqual(set(t), {"hash", "unpacked_length", "range"})
            s, e = t["range"]["start"], t["range"]["end"]
            self.assertLess(s, e)
            data = b"".join(chunks[(t["hash"], i)] for i in range(s, e))
            self.assertEqual(len(data), t["unpacked_length"], "unpacked_length")
            out += data
        return bytes(out[rec["offset_into_first_range"]:]), multi

    def test_token_json_and_headers(self):
        for rev, commit in (("main", self.c["c2"]), (self.c["c1"], self.c["c1"]), ("refs/pr/1", self.c["pr"])):
            with self.subTest(rev=rev):
                r = self.get(self.api(MODEL, "xet-read-token", urllib.parse.quote(rev, safe="")),
                             {"Authorization": "Bearer hf_dummy"})
                self.assertStatus(r, 200)
                self.assertTrue(r.h("Content-Type").startswith("application/json"))
                tok = r.json()
                self.assertEqual(set(tok), {"accessToken", "exp", "casUrl"})
                self.assertIsInstance(tok["accessToken"], str)
                self.assertIsInstance(tok["exp"], int)
                self.assertGreater(tok["exp"], time.time() + 60)
                self.assertTrue(tok["casUrl"].startswith("http://127.0.0.1:%d" % self.port), tok)
                self.assertFalse(tok["casUrl"].endswith("/"))
                self.assertEqual(r.h("X-Xet-Cas-Url"), tok["casUrl"])
                self.assertEqual(r.h("X-Xet-Access-Token"), tok["accessToken"])
                self.assertEqual(r.h("X-Xet-Token-Expiration"), str(tok["exp"]))
        # Python 0.30-1.18 insert the revision raw: the commit from the server's own Link
        r = self.get(self.api(MODEL, "xet-read-token", self.c["c2"]))
        self.assertStatus(r, 200)

    def test_python_flow_whole_files(self):
        # HEAD -> Link xet-auth -> token -> v2 reconstruction -> xorb ranges -> bytes
        for name in (ST, BIG, PTBIN, COPY):
            with self.subTest(name=name):
                data = self.f["c2"][name]
                h = self.head(self.resolve_path(MODEL, "main", name), {"Accept-Encoding": "identity"})
                xh = h.h("X-Xet-Hash")
                r = self.get(self.url_path(h.links()["xet-auth"]), {"authorization": "Bearer hf_dummy"})
                tok = r.json()
                rec = self.recon(tok, xh).json()
                self.assertEqual(rec["offset_into_first_range"], 0)
                out, _ = self.fetch_and_assemble(rec)
                self.assertEqual(len(out), len(data))
                self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_js_flow_mode_d(self):
        # GET probe -> Link xet-auth / xet-reconstruction-info (v1 rewritten to v2) with Range 0-(size-1)
        data = self.f["c2"][ST]
        r = self.get(self.resolve_path(MODEL, "main", ST),
                     {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
        links = r.links()
        tok = self.get(self.url_path(links["xet-auth"]), {"Authorization": "Bearer hf_dummy"}).json()
        recon_url = links["xet-reconstruction-info"].replace("/v1/reconstructions/", "/v2/reconstructions/")
        rr = self.get(self.url_path(recon_url), {"Authorization": "Bearer " + tok["accessToken"],
                                                 "Range": "bytes=0-%d" % (len(data) - 1)})
        self.assertStatus(rr, 200)
        out, _ = self.fetch_and_assemble(rr.json())
        self.assertEqual(out[:len(data)], data)
        # the advertised v1 link itself also works
        rr = self.get(self.url_path(links["xet-reconstruction-info"]), {"Authorization": "Bearer " + tok["accessToken"]})
        self.assertStatus(rr, 200)
        out, _ = self.fetch_and_assemble(rr.json(), v2=False)
        self.assertEqual(out, data)

    def test_v2_ranges(self):
        tok = self.token()
        for name, a, b in ((ST, 100000, 1500000), (ST, 0, 0), (ST, 131071, 131073), (BIG, 4000000, 4100000),
                           (ST, len(self.f["c2"][ST]) - 10, len(self.f["c2"][ST]) + 5000), (COPY, 1000, 2500000)):
            with self.subTest(name=name, a=a, b=b):
                data = self.f["c2"][name]
                rec = self.recon(tok, self.xet_hash(name), rng="bytes=%d-%d" % (a, b)).json()
                out, _ = self.fetch_and_assemble(rec)
                want = data[a:b + 1]
                self.assertGreaterEqual(len(out), len(want))
                self.assertEqual(out[:len(want)], want)

    def test_v2_range_start_beyond_end_416(self):
        tok = self.token()
        size = len(self.f["c2"][ST])
        r = self.recon(tok, self.xet_hash(ST), rng="bytes=%d-%d" % (size, size + 10), expect=416)
        self.assertEqual(r.h("Content-Range"), "bytes */%d" % size)

    def test_v1_and_legacy_paths(self):
        tok = self.token()
        for name in (ST, PTBIN):
            data = self.f["c2"][name]
            xh = self.xet_hash(name)
            for path in ("/v1/reconstructions/", "/reconstructions/", "/reconstruction/"):
                with self.subTest(name=name, path=path):
                    rec = self.recon(tok, xh, path=path).json()
                    for es in rec["fetch_info"].values():
                        for e in es:
                            self.assertEqual(set(e), {"range", "url", "url_range"})
                    out, multi = self.fetch_and_assemble(rec, v2=False)
                    self.assertEqual(multi, 0)
                    self.assertEqual(out, data)
                with self.subTest(name=name, path=path, ranged=True):
                    rec = self.recon(tok, xh, path=path, rng="bytes=70000-200000").json()
                    out, _ = self.fetch_and_assemble(rec, v2=False)
                    self.assertEqual(out[:130001], data[70000:200001])

    def test_multi_range_xorb_entry_from_dedup(self):
        # copy.bin = two slices of model.safetensors: its terms use two non-adjacent chunk ranges
        # of the same xorb, which v2 groups into one entry with several ranges (multipart fetch).
        tok = self.token()
        rec = self.recon(tok, self.xet_hash(COPY)).json()
        counts = [len(e["ranges"]) for es in rec["xorbs"].values() for e in es]
        if max(counts) < 2:
            self.skipTest("no deduplicated multi-range entry produced by this store (%r)" % counts)
        out, multi = self.fetch_and_assemble(rec)
        self.assertGreaterEqual(multi, 1)
        self.assertEqual(out, self.f["c2"][COPY])

    def signed_entry(self, name=ST, rng="bytes=300000-900000"):
        tok = self.token()
        rec = self.recon(tok, self.xet_hash(name), rng=rng).json()
        xh, es = next(iter(rec["xorbs"].items()))
        e = es[0]
        return xh, e["url"], e["ranges"]

    def test_xorb_multi_range_within_signed_range(self):
        # Split one signed range at a chunk-record boundary: two ranges, multipart, in request order.
        xh, url, ranges = self.signed_entry()
        g = ranges[0]
        bs, be = g["bytes"]["start"], g["bytes"]["end"]
        whole = self.get(self.url_path(url), {"Range": "bytes=%d-%d" % (bs, be)})
        self.assertStatus(whole, 206)
        hdr = whole.body[:8]
        first_len = 8 + int.from_bytes(hdr[1:4], "little")
        self.assertLess(first_len, len(whole.body), "need at least two chunks in the signed range")
        mid = bs + first_len
        r = self.get(self.url_path(url), {"Range": "bytes=%d-%d,%d-%d" % (mid, be, bs, mid - 1)})
        self.assertStatus(r, 206)
        parts = parse_multipart(r.body, r.h("Content-Type"))
        self.assertEqual([(p[0], p[1]) for p in parts], [(mid, be), (bs, mid - 1)])
        self.assertEqual(parts[1][4] + parts[0][4], whole.body)
        decode_chunk_records(parts[1][4], 1)

    def test_compression_schemes_exercised(self):
        tok = self.token()
        rec = self.recon(tok, self.xet_hash(ST)).json()
        schemes = {}
        saved, self.schemes = self.schemes, schemes
        try:
            out, _ = self.fetch_and_assemble(rec)
        finally:
            self.schemes = saved
        self.assertEqual(out, self.f["c2"][ST])
        self.assertLessEqual(set(schemes), {0, 1, 2})
        if not {1, 2} <= set(schemes):
            self.skipTest("store did not compress with both LZ4 and BG4 (schemes %r); decoders not exercised"
                          % schemes)

    # -- security

    def test_reconstruction_requires_token(self):
        xh = self.xet_hash(ST)
        for h in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer garbage"},
                  {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer hf_dummy"}):
            for path in ("/v2/reconstructions/", "/v1/reconstructions/", "/reconstructions/", "/reconstruction/"):
                with self.subTest(h=h, path=path):
                    r = self.get(path + xh, h)
                    self.assertStatus(r, 401)
                    self.assertNotIn(b"xorbs/default", r.body)
        tok = self.token()
        bad = tok["accessToken"][:-1] + ("0" if tok["accessToken"][-1] != "0" else "1")
        self.assertStatus(self.get("/v2/reconstructions/" + xh, {"Authorization": "Bearer " + bad}), 401)

    def test_reconstruction_token_scope(self):
        xh = self.xet_hash(ST)
        ds_tok = self.token(repo=DATASET, types="datasets")
        r = self.recon(ds_tok, xh, expect=404)
        self.assertNotIn(b"xorbs/default", r.body)
        # a token for refs/pr/1 does not cover a file that only exists on main
        pr_tok = self.token(rev="refs/pr/1")
        self.recon(pr_tok, xh, expect=404)
        # a token for commit 1 does not cover copy.bin (added in commit 2)
        c1_tok = self.token(rev=self.c["c1"])
        self.recon(c1_tok, self.xet_hash(COPY), expect=404)
        self.recon(c1_tok, xh, expect=200)
        # the private repo's file through a public repo's token
        priv = self.token(repo=PRIVATE) if self.get(self.api(PRIVATE, "xet-read-token", "main")).status == 200 \
            else None
        if priv is not None:
            entries = self.get(self.api(PRIVATE, "tree", "main")).json()
            pxh = {e["path"]: e for e in entries}["secret.safetensors"]["xetHash"]
            self.recon(self.token(), pxh, expect=404)
        # unknown but well-formed hash
        self.recon(self.token(), "ab" * 32, expect=404)

    def test_xorb_url_tampering(self):
        xh, url, ranges = self.signed_entry()
        g = ranges[0]["bytes"]
        good = "bytes=%d-%d" % (g["start"], g["end"])
        self.assertStatus(self.get(self.url_path(url), {"Range": good}), 206)
        u = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qs(u.query)
        self.assertLessEqual({"X-Xet-Signed-Range", "Expires", "Signature"}, set(q))

        def with_q(**changes):
            qq = {k: v[0] for k, v in q.items()}
            qq.update(changes)
            return u.path + "?" + urllib.parse.urlencode(qq)

        sig = q["Signature"][0]
        cases = {
            "tampered signature": with_q(Signature=sig[:-1] + ("0" if sig[-1] != "0" else "1")),
            "tampered range": with_q(**{"X-Xet-Signed-Range": "bytes=0-%d" % (g["end"] + 100000)}),
            "expired": with_q(Expires="1"),
            "future expiry": with_q(Expires=str(int(q["Expires"][0]) + 86400)),
            "no signature": with_q(Signature=""),
            "unsigned": u.path,
            "other xorb": url.replace(xh, "cd" * 32),
        }
        for label, p in cases.items():
            with self.subTest(label):
                if p.startswith("http"):
                    p = self.url_path(p)
                r = self.get(p, {"Range": good})
                self.assertIn(r.status, (403,) if label != "other xorb" else (403, 404), r)
                self.assertNotIn(r.status, (200, 206))

    def test_xorb_range_rules(self):
        xh, url, ranges = self.signed_entry()
        g = ranges[0]["bytes"]
        s, e = g["start"], g["end"]
        self.assertGreater(s, 0, "the signed range should not start at 0 for a mid-file reconstruction")
        p = self.url_path(url)
        cases = {
            "no Range": {},
            "before signed": {"Range": "bytes=0-%d" % (s - 1)},
            "straddles start": {"Range": "bytes=%d-%d" % (s - 1, e)},
            "straddles end": {"Range": "bytes=%d-%d" % (s, e + 1)},
            "open-ended": {"Range": "bytes=%d-" % s},
            "one good one bad": {"Range": "bytes=%d-%d,0-10" % (s, e)},
            "invalid Range": {"Range": "bytes=zz"},
        }
        for label, h in cases.items():
            with self.subTest(label):
                r = self.get(p, h)
                self.assertStatus(r, 403)
        # sub-ranges of the signed range are fine (hf_xet may split)
        r = self.get(p, {"Range": "bytes=%d-%d" % (s, s + 7)})
        self.assertStatus(r, 206)
        self.assertEqual(len(r.body), 8)

    def test_xorb_overlapping_ranges_do_not_leak_unsigned_bytes(self):
        # Three copies of the signed range make the multi-range "abusive" (RFC 9110 14.2); the server
        # may refuse (403) or answer 206 with exactly those parts, but must never serve bytes outside
        # X-Xet-Signed-Range (e.g. the whole xorb as a 200).
        xh, url, ranges = self.signed_entry()
        g = ranges[0]["bytes"]
        one = "%d-%d" % (g["start"], g["end"])
        r = self.get(self.url_path(url), {"Range": "bytes=" + ",".join([one] * 3)})
        self.assertIn(r.status, (206, 403, 416),
                      "xorb URL signed for bytes=%s answered %d with %d bytes (Content-Range %r)"
                      % (one, r.status, len(r.body), r.h("Content-Range")))
        if r.status == 206:
            self.assertLessEqual(len(r.body), 3 * (g["end"] - g["start"] + 1) + 1024)

    def test_bad_hash_and_unknown_cas_routes(self):
        tok = self.token()
        h = {"Authorization": "Bearer " + tok["accessToken"]}
        for p in ("/v2/reconstructions/xyz", "/v2/reconstructions/" + "g" * 64, "/v2/reconstructions/" + "ab" * 31):
            with self.subTest(path=p):
                r = self.get(p, h)
                self.assertIn(r.status, (400, 404))
        self.assertStatus(self.get("/v3/reconstructions/" + "ab" * 32, h), 404)
        r = self.get("/xorbs/other/" + "ab" * 32 + "?X-Xet-Signed-Range=bytes%3D0-1&Expires=9999999999&Signature=x",
                     {"Range": "bytes=0-1"})
        self.assertIn(r.status, (403, 404))


# ---------------------------------------------------------------------------------------------
# Hostile and malformed requests
# ---------------------------------------------------------------------------------------------

class TestHostile(HubCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.errors_before = cls.srv.metrics().get("hubgate_errors_total", 0)

    def assert4xx(self, r, allowed=None):
        self.assertGreaterEqual(r.status, 400, r)
        self.assertLess(r.status, 500, r)
        if allowed:
            self.assertIn(r.status, allowed, r)

    def raw(self, data, timeout=5):
        """Sends raw bytes; returns what the server answered before closing (b'' if nothing)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    out += b
            except socket.timeout:
                pass
            return out
        finally:
            s.close()

    def test_path_traversal(self):
        secret = b"root:"
        paths = [
            "/%s/resolve/main/../../../../etc/passwd" % MODEL,
            "/%s/resolve/main/%%2e%%2e/%%2e%%2e/%%2e%%2e/etc/passwd" % MODEL,
            "/%s/resolve/main/nested/%%2e%%2e%%2f%%2e%%2e%%2fetc%%2fpasswd" % MODEL,
            "/%s/resolve/main/nested%%2F..%%2F..%%2Fconfig.json" % MODEL,
            "/%s/resolve/main/./config.json" % MODEL,
            "/%s/resolve/main//etc/passwd" % MODEL,
            "/%s/resolve/main/%%2Fetc%%2Fpasswd" % MODEL,
            "/%s/resolve/..%%2F..%%2F..%%2Fetc/passwd" % MODEL,
            "/%s/raw/main/..%%5c..%%5cetc%%5cpasswd" % MODEL,
            "/%s/resolve/main/config.json%%00.txt" % MODEL,
            "/%s/resolve/main/%%00" % MODEL,
            "/api/models/%s/tree/main/..%%2F.." % MODEL,
            "/api/models/%s/tree/main/%%2e%%2e" % MODEL,
            "/api/models/%s/tree/main/%%2Fetc" % MODEL,
            "/api/models/..%%2F..%%2Fetc/passwd",
            "/../../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/xorbs/default/..%2F..%2F..%2Fetc%2Fpasswd",
            "/api/models/%s/resolve-cache/../../etc/passwd" % MODEL,
        ]
        for p in paths:
            with self.subTest(path=p):
                for method in ("GET", "HEAD"):
                    r = self.req(method, p)
                    self.assert4xx(r, (400, 401, 403, 404))
                    self.assertNotIn(secret, r.body)
        # paths-info with traversal paths: silently omitted (or refused), never resolved outside
        for body in (json.dumps({"paths": ["../../etc/passwd", "/etc/passwd", "nested/../config.json", "\u0000"]}),):
            r = self.req("POST", self.api(MODEL, "paths-info", "main"), {"Content-Type": "application/json"}, body)
            self.assertIn(r.status, (200, 400), r)
            if r.status == 200:
                self.assertEqual([e["path"] for e in r.json() if e["path"] != "config.json"], [])

    def test_bad_percent_encoding(self):
        for p in ("/%s/resolve/main/a%%zz" % MODEL, "/%s/resolve/main/%%" % MODEL, "/%s/resolve/main/%%4" % MODEL,
                  "/api/models/%s/tree/ma%%zzin" % MODEL, "/api/models/hubgate-test/mo%%del",
                  "/%s/resolve/%%zz/config.json" % MODEL, "/v2/reconstructions/%zz"):
            with self.subTest(path=p):
                r = self.get(p)
                self.assert4xx(r, (400, 401, 404))

    def test_long_urls(self):
        r = self.get("/%s/resolve/main/%s" % (MODEL, "a" * 9000))
        self.assert4xx(r, (414,))
        r = self.get("/api/models/%s/tree/main/%s" % (MODEL, "/".join(["d"] * 3000)))
        self.assert4xx(r)
        r = self.get("/%s/resolve/main/%s" % (MODEL, "a" * 70000))
        self.assert4xx(r)
        r = self.get("/%s/resolve/main/%s" % (MODEL, "/".join(["x"] * 200)))   # many segments
        self.assert4xx(r)
        r = self.get("/%s/resolve/%s/config.json" % (MODEL, "b" * 5000))        # huge revision
        self.assert4xx(r)
        self.health_ok()

    def test_unknown_routes_404(self):
        for p in ("/nonexistent", "/api", "/api/", "/api/nonexistent", "/api/models", "/api/widgets/a/b",
                  "/api/models/%s/unknown-marker/main" % MODEL, "/%s/blob/main/README.md" % MODEL,
                  "/%s/tree/main" % MODEL, "/v3/reconstructions/" + "ab" * 32, "/xorbs", "/favicon.ico", "/"):
            with self.subTest(path=p):
                r = self.get(p)
                self.assert4xx(r, (404,) if p not in ("/api/models/%s/unknown-marker/main" % MODEL,) else (401, 404))

    def test_wrong_method_405(self):
        rp = self.resolve_path(MODEL, "main", "README.md")
        for method, p in (("DELETE", rp), ("POST", rp), ("PUT", rp), ("PATCH", self.api(MODEL)),
                          ("DELETE", self.api(MODEL)), ("PUT", self.api(MODEL, "tree", "main")),
                          ("GET", self.api(MODEL, "paths-info", "main")),
                          ("HEAD", self.api(MODEL, "paths-info", "main")),
                          ("DELETE", self.api(MODEL, "paths-info", "main")),
                          ("POST", "/health"), ("POST", self.api(MODEL, "xet-read-token", "main")),
                          ("PUT", "/v2/reconstructions/" + "ab" * 32)):
            with self.subTest(method=method, path=p):
                r = self.req(method, p, body=b"" if method in ("POST", "PUT", "PATCH") else None)
                self.assertStatus(r, 405)

    def test_405_has_allow_header(self):
        # RFC 9110 15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
        for method, p, allowed in (("DELETE", self.resolve_path(MODEL, "main", "README.md"), "GET"),
                                   ("GET", self.api(MODEL, "paths-info", "main"), "POST")):
            with self.subTest(method=method, path=p):
                r = self.req(method, p)
                self.assertStatus(r, 405)
                self.assertIn(allowed, (r.h("Allow") or ""), r)

    def test_oversized_body_413(self):
        big = b'{"paths": [' + b'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",' * 30000 + b'"b"]}'
        self.assertGreater(len(big), 1 << 20)
        try:
            r = self.req("POST", self.api(MODEL, "paths-info", "main"), {"Content-Type": "application/json"}, big)
        except (ConnectionError, BrokenPipeError) as e:
            self.fail("connection dropped instead of a 413: %r" % e)
        self.assertStatus(r, 413)
        self.health_ok()

    def test_malformed_bodies(self):
        p = self.api(MODEL, "paths-info", "main")
        for body in ("{", "[1,2]", "null", '{"paths": ', "\xff\xfe", '"paths"'):
            with self.subTest(body=body):
                r = self.req("POST", p, {"Content-Type": "application/json"}, body.encode("latin-1"))
                self.assertStatus(r, 400)
                self.assertIsInstance(r.json().get("error"), str)
        for body in ("paths=%zz", "paths=%"):
            with self.subTest(body=body):
                r = self.req("POST", p, {"Content-Type": "application/x-www-form-urlencoded"}, body)
                self.assert4xx(r, (400,))
        # odd but well-formed: wrong types are ignored
        r = self.req("POST", p, {"Content-Type": "application/json"}, '{"paths": [1, null, {"a": 1}, "README.md"]}')
        self.assertIn(r.status, (200, 400))
        if r.status == 200:
            self.assertEqual([e["path"] for e in r.json()], ["README.md"])
        r = self.req("POST", p, {"Content-Type": "application/json"},
                     json.dumps({"paths": ["README.md"] * 2001}))
        self.assert4xx(r, (400, 413))

    def test_bad_tree_params(self):
        base = self.api(MODEL, "tree", "main")
        for q in ("limit=0", "limit=-1", "limit=abc", "limit=99999999999999999999999", "cursor=abc",
                  "cursor=-5", "recursive=maybe&expand=perhaps"):
            with self.subTest(q=q):
                r = self.get(base + "?" + q)
                self.assertLess(r.status, 500, r)
                self.assertIn(r.status, (200, 400), r)
        r = self.get(base + "?cursor=999999")
        self.assertIn(r.status, (200, 400), r)
        if r.status == 200:
            self.assertEqual(r.json(), [])

    def test_many_ranges_and_headers(self):
        data = self.f["c2"][ST]
        rp = self.resolve_path(MODEL, "main", ST)
        many = "bytes=" + ",".join("%d-%d" % (i * 10, i * 10 + 5) for i in range(5000))
        r = self.get(rp, {"Range": many})
        self.assertStatus(r, 200)
        self.assertEqual(len(r.body), len(data))
        r = self.get(rp, {"Range": "bytes=" + "0-0," * 2000 + "0-0"})
        self.assertIn(r.status, (200, 206), r)
        r = self.get(rp, {"Range": "bytes=99999999999999999999999999-"})
        self.assertStatus(r, 200)
        hdrs = {"X-Filler-%03d" % i: "v" * 40 for i in range(200)}
        r = self.get(self.resolve_path(MODEL, "main", "README.md"), hdrs)
        self.assertIn(r.status, (200, 431), r)
        r = self.get("/health", {"X-Huge": "x" * 100000})
        self.assert4xx(r, (400, 413, 431))
        self.health_ok()

    def test_raw_socket_garbage(self):
        for data in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                     b"\x00\x01\x02\x03" * 100, b"GET /%s/resolve/main/README.md HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\x00\r\n\r\n" % MODEL.encode()):
            with self.subTest(data=data[:40]):
                out = self.raw(data)
                if out:
                    m = re.match(rb"HTTP/1\.[01] (\d{3})", out)
                    self.assertTrue(m, out[:100])
                    code = int(m.group(1))
                    self.assertTrue(code < 500 or (code == 505 and b"HTTP/9.9" in data), out[:200])
                self.health_ok()

    def test_http10_and_pipelining(self):
        out = self.raw(b"GET /health HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1."), out[:100])
        self.assertIn(b" 200 ", out.split(b"\r\n", 1)[0])
        reqs = b"".join(b"HEAD /%s/resolve/main/README.md HTTP/1.1\r\nHost: x\r\n\r\n" % MODEL.encode()
                        for _ in range(3))
        out = self.raw(reqs + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(len(re.findall(rb"HTTP/1\.1 200", out)), 4, out[:500])

    def test_layer_errors_carry_request_id(self):
        # 4.2: "Always send X-Request-Id" - also on errors produced below the router.
        for r in (self.get("/%s/resolve/main/%s" % (MODEL, "a" * 9000)),
                  self.get("/health?" + "&".join("k%d=v" % i for i in range(100)))):
            with self.subTest(status=r.status):
                self.assert4xx(r)
                self.assertTrue(r.h("X-Request-Id"), r)

    def test_zz_server_still_up_and_counted_errors(self):
        self.health_ok()
        self.assertIsNone(self.srv.proc.poll(), "server exited")
        after = self.srv.metrics().get("hubgate_errors_total", 0)
        self.assertGreater(after, self.errors_before)


if __name__ == "__main__":
    unittest.main()
