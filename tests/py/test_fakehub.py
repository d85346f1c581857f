"""Checks fakehub (the fake upstream Hub) against the contract it fakes: hub-protocol.md 2 and 4,
xet-spec.md 5.  If the fake drifts from the protocol, gateway tests built on it prove nothing.

Python standard library only; http.client for every request.  Needs $HUBGATE for the Xet data.
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_fakehub
"""
import hashlib
import http.client
import json
import random
import re
import socket
import time
import unittest
import urllib.parse

import fakehub
import harness
from test_protocol import decode_chunk_records, parse_multipart

MODEL, PLAIN, GATED, PRIVATE, DATASET, MANY = ("org/model", "org/plain", "org/gated",
                                                "org/private", "org/data", "org/many")
GOOD = "hf_goodtoken"          # granted on the gated and the private repo
OTHER = "hf_someoneelse"       # a valid user without grants
HEX40 = re.compile(r"^[0-9a-f]{40}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def det_bytes(seed, n):
    return random.Random(seed).randbytes(n)


Resp = harness.Resp


def request(url, method="GET", headers=None, body=None, timeout=10):
    """One request to an absolute URL on a fresh connection."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                  headers=headers or {})
        r = c.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        c.close()


class Fx:
    hub = None


def setUpModule():
    hub = Fx.hub = fakehub.FakeHub()
    a = det_bytes(1, 1_500_000)                       # ~20 chunks: three xorbs of <= 8 chunks
    chunks = fakehub.xet_chunks(hub.hubgate, a)
    assert len(chunks) > 16, len(chunks)
    # chunks 0,1 then 5.. of `a`: the chunker restarts at boundaries, so this reuses a's xorbs
    # with two separate runs of its first xorb (a multi-range fetch entry)
    splice = a[:chunks[2].off] + a[chunks[5].off:]
    Fx.files = {
        "config.json": b'{"model_type": "fake", "version": 1}\n',
        "README.md": b"# fake model\n" + b"lorem ipsum dolor sit amet\n" * 40,
        "model.safetensors": a,
        "sub/a.bin": det_bytes(2, 3000),
        "sub/copy.safetensors": a,
        "empty.bin": b"",
    }
    Fx.c1 = hub.add_repo(MODEL, Fx.files, tags=["v1.0"])
    Fx.xorbs_before_splice = set(hub.xorbs)
    Fx.splice = splice
    Fx.c2 = hub.add_commit(MODEL, {"config.json": b'{"model_type": "fake", "version": 2}\n',
                                   "added.txt": b"added later\n", "splice.bin": splice},
                           message="second commit\n\nwith a body")
    Fx.pr = hub.add_commit(MODEL, {"pr.txt": b"on a pr\n"}, branch="refs/pr/1", message="a pr")
    Fx.big = det_bytes(3, 10 * 1024 * 1024 + 1)
    Fx.plain = hub.add_repo(PLAIN, {"big.dat": Fx.big, "w.bin": b"weights" * 100,
                                    "notes.txt": b"plain notes\n"}, xet=False)
    hub.add_repo(GATED, {"g.txt": b"gated text\n", "g.safetensors": det_bytes(4, 20000)}, gated=True)
    hub.add_repo(PRIVATE, {"secret.txt": b"secret\n"}, private=True)
    for r in (GATED, PRIVATE):
        hub.grant(r, GOOD)
    hub.add_repo(DATASET, {"data/train.csv": b"a,b\n1,2\n", "data/p.parquet": det_bytes(5, 9000)},
                 type="dataset")
    hub.add_repo(MANY, {"d%d/f%d.txt" % (i % 2, i): b"%d\n" % i for i in range(5)}, xet=False)


def tearDownModule():
    if Fx.hub:
        Fx.hub.close()


class Case(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.hub = Fx.hub

    def tearDown(self):
        self.hub.faults.clear()
        self.hub.page_size, self.hub.cdn_ttl, self.hub.xorb_ttl, self.hub.token_ttl = 1000, 3600, 3600, 3600

    def hub_req(self, path, method="GET", headers=None, body=None):
        return request(self.hub.url + path, method, headers, body)

    def resolve(self, path, rev="main", repo=MODEL, method="HEAD", headers=None, prefix=""):
        return self.hub_req("/%s%s/resolve/%s/%s" % (prefix, repo, urllib.parse.quote(rev, safe=""),
                                                     urllib.parse.quote(path)), method, headers)

    def assertError(self, r, status, code, message=None, head=False):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.h("X-Error-Code"), code, r)
        self.assertTrue(r.h("X-Request-Id"), r)
        if message is not None:
            self.assertEqual(r.h("X-Error-Message"), message, r)
        if head:
            self.assertEqual(r.body, b"")
        else:
            self.assertTrue(r.h("Content-Type").startswith("application/json"), r)
            self.assertIsInstance(r.json()["error"], str)

    def xet_token(self, repo=MODEL, token=None):
        r = self.hub_req("/api/models/%s/xet-read-token/main" % repo,
                         headers={"Authorization": "Bearer " + token} if token else {})
        self.assertEqual(r.status, 200, r)
        return r.json()["accessToken"]

    def xet_hash(self, path, rev="main"):
        return self.hub.file(MODEL, path, rev).xet_hash

    def xet_download(self, fhash, rng=None, version="v2", token=None):
        """What hf_xet / XetBlob do: reconstruction, every fetch entry, decode, reassemble."""
        h = {"Authorization": "Bearer " + (token or self.xet_token())}
        if rng:
            h["Range"] = rng
        r = request("%s/%s/reconstructions/%s" % (self.hub.cas_url, version, fhash), headers=h)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        entries = []   # (xorb, url, [((chunk start, end), (byte start, end))])
        if version == "v2":
            for xh, fetch in doc["xorbs"].items():
                for e in fetch:
                    entries.append((xh, e["url"], [((g["chunks"]["start"], g["chunks"]["end"]),
                                                    (g["bytes"]["start"], g["bytes"]["end"]))
                                                   for g in e["ranges"]]))
        else:
            for xh, fetch in doc["fetch_info"].items():
                for e in fetch:
                    entries.append((xh, e["url"], [((e["range"]["start"], e["range"]["end"]),
                                                    (e["url_range"]["start"], e["url_range"]["end"]))]))
        urls = [e[1] for e in entries]
        self.assertEqual(len(urls), len(set(urls)), "fetch entries must have distinct URLs")
        chunks = {}
        for xh, url, ranges in entries:
            self.assertTrue(url.startswith(self.hub.cas_url + "/"), url)
            x = request(url, headers={"Range": "bytes=" + ",".join("%d-%d" % b for _, b in ranges)})
            self.assertEqual(x.status, 206, x)
            if len(ranges) == 1:
                bodies = [x.body]
                self.assertEqual(x.h("Content-Range"), "bytes %d-%d/%d" % (
                    *ranges[0][1], len(self.hub.xorbs[xh].data)))
            else:
                parts = parse_multipart(x.body, x.h("Content-Type"))
                self.assertEqual([(p[0], p[1]) for p in parts], [b for _, b in ranges])
                bodies = [p[4] for p in parts]
            for ((s, e), _), body in zip(ranges, bodies):
                for k, c in enumerate(decode_chunk_records(body, e - s)):
                    chunks[(xh, s + k)] = c
        out = b""
        for t in doc["terms"]:
            piece = b"".join(chunks[(t["hash"], k)] for k in range(t["range"]["start"], t["range"]["end"]))
            self.assertEqual(len(piece), t["unpacked_length"])
            out += piece
        return doc, out[doc["offset_into_first_range"]:]


class TestResolve(Case):
    def test_regular_file_head_and_get(self):
        data = Fx.files["README.md"]
        for method in ("HEAD", "GET"):
            r = self.resolve("README.md", method=method, headers={"Accept-Encoding": "identity"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.h("ETag"), '"%s"' % hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
            self.assertEqual(r.h("X-Repo-Commit"), Fx.c2)
            self.assertEqual(r.h("Content-Length"), str(len(data)))
            self.assertEqual(r.h("Accept-Ranges"), "bytes")
            self.assertTrue(r.h("X-Request-Id"))
            self.assertIsNone(r.h("X-Linked-Etag"))
            self.assertEqual(r.body, b"" if method == "HEAD" else data)

    def test_ranges(self):
        data = Fx.files["README.md"]
        n = len(data)
        for rng, (a, b) in (("bytes=0-0", (0, 0)), ("bytes=10-19", (10, 19)), ("bytes=100-", (100, n - 1)),
                            ("bytes=-5", (n - 5, n - 1)), ("bytes=0-100000", (0, n - 1))):
            r = self.resolve("README.md", method="GET", headers={"Range": rng})
            self.assertEqual(r.status, 206, rng)
            self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (a, b, n))
            self.assertEqual(r.body, data[a:b + 1])
        r = self.resolve("README.md", method="GET", headers={"Range": "bytes=%d-" % n})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.h("Content-Range"), "bytes */%d" % n)

    def test_revisions(self):
        old = Fx.files["config.json"]
        for rev in ("v1.0", Fx.c1):
            r = self.resolve("config.json", rev, method="GET")
            self.assertEqual((r.status, r.body, r.h("X-Repo-Commit")), (200, old, Fx.c1))
        r = self.resolve("pr.txt", "refs/pr/1", method="GET")
        self.assertEqual((r.status, r.h("X-Repo-Commit")), (200, Fx.pr))
        r = self.hub_req("/%s/resolve/refs/pr/1/pr.txt" % MODEL)        # unencoded special ref
        self.assertEqual((r.status, r.body), (200, b"on a pr\n"))
        for c in (Fx.c1, Fx.c2, Fx.pr):
            self.assertRegex(c, HEX40)

    def test_lfs_redirect_and_cdn(self):
        data = Fx.files["model.safetensors"]
        sha = hashlib.sha256(data).hexdigest()
        for method in ("HEAD", "GET"):
            r = self.resolve("model.safetensors", method=method)
            self.assertEqual(r.status, 302, r)
            self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % sha)
            self.assertEqual(r.h("ETag"), '"%s"' % sha)
            self.assertEqual(r.h("X-Linked-Size"), str(len(data)))
            self.assertEqual(r.h("X-Repo-Commit"), Fx.c2)
            self.assertEqual(int(r.h("Content-Length")), len(r.body) if method == "GET" else
                             len(b"Found. Redirecting to " + r.h("Location").encode()))
            loc = r.h("Location")
            self.assertTrue(loc.startswith(self.hub.cdn_url + "/"), loc)
            self.assertIn(sha, urllib.parse.urlsplit(loc).path)
            self.assertRegex(loc, r"[?&]Expires=\d+&Signature=[0-9a-f]+$")
            xh = r.h("X-Xet-Hash")
            self.assertRegex(xh, r"^[0-9a-f]{64}$")
            self.assertEqual(r.links(), {
                "xet-auth": "%s/api/models/%s/xet-read-token/%s" % (self.hub.url, MODEL, Fx.c2),
                "xet-reconstruction-info": "%s/v1/reconstructions/%s" % (self.hub.cas_url, xh)})
        c = request(loc)
        self.assertEqual((c.status, c.body), (200, data))
        self.assertEqual(c.h("Content-Length"), str(len(data)))
        for rng, (a, b) in (("bytes=1000-1999", (1000, 1999)), ("bytes=1400000-", (1400000, len(data) - 1))):
            c = request(loc, headers={"Range": rng})
            self.assertEqual((c.status, c.h("Content-Range")), (206, "bytes %d-%d/%d" % (a, b, len(data))))
            self.assertEqual(c.body, data[a:b + 1])

    def test_non_xet_lfs_and_size_rule(self):
        r = self.resolve("big.dat", repo=PLAIN)        # LFS by size only (> 10 MiB)
        self.assertEqual(r.status, 302)
        self.assertIsNone(r.h("X-Xet-Hash"))
        self.assertIsNone(r.h("Link"))
        self.assertEqual(r.h("X-Linked-Size"), str(len(Fx.big)))
        c = request(r.h("Location"), headers={"Range": "bytes=10485760-"})
        self.assertEqual((c.status, c.body), (206, Fx.big[10485760:]))
        self.assertEqual(self.resolve("notes.txt", repo=PLAIN).status, 200)

    def test_errors(self):
        for method in ("HEAD", "GET"):
            r = self.resolve("nope.txt", method=method)
            self.assertError(r, 404, "EntryNotFound", head=method == "HEAD")
            self.assertEqual(r.h("X-Repo-Commit"), Fx.c2)
            r = self.resolve("config.json", "v9", method=method)
            self.assertError(r, 404, "RevisionNotFound", "Invalid rev id: v9", head=method == "HEAD")
            r = self.resolve("config.json", repo="org/missing", method=method)
            self.assertError(r, 401, "RepoNotFound", "Invalid username or password.", head=method == "HEAD")

    def test_dataset_raw_notmodified_and_fileinfo(self):
        r = self.resolve("data/train.csv", repo=DATASET, method="GET", prefix="datasets/")
        self.assertEqual((r.status, r.body), (200, b"a,b\n1,2\n"))
        self.assertEqual(self.resolve("data/train.csv", repo=DATASET).status, 401)   # not a model
        f = self.hub.file(MODEL, "sub/a.bin")
        r = self.hub_req("/%s/raw/main/sub/a.bin" % MODEL)
        self.assertEqual((r.status, r.body, r.h("ETag")), (200, f.pointer, '"%s"' % f.oid))
        etag = '"%s"' % fakehub.git_blob_oid(Fx.files["README.md"])
        r = self.resolve("README.md", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        r = self.resolve("sub/a.bin", method="GET", headers={
            "Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("X-Xet-Hash"), f.xet_hash)
        self.assertEqual(r.h("X-Linked-Size"), "3000")
        self.assertEqual(set(r.links()), {"xet-auth", "xet-reconstruction-info"})


class TestCdn(Case):
    def location(self, path="sub/a.bin"):
        return self.resolve(path).h("Location")

    def test_bad_and_expired_signatures(self):
        loc = self.location()
        self.assertEqual(request(loc).status, 200)
        tampered = loc[:-1] + ("0" if loc[-1] != "0" else "1")
        self.assertEqual(request(tampered).status, 403)
        other = loc.replace(self.hub.file(MODEL, "sub/a.bin").sha256,
                            self.hub.file(MODEL, "model.safetensors").sha256)
        self.assertEqual(request(other).status, 403)     # signature covers the path
        self.assertEqual(request(loc.split("?")[0]).status, 403)
        self.hub.cdn_ttl = -10
        r = request(self.location())
        self.assertEqual(r.status, 403)
        self.assertIn("expired", r.json()["error"])

    def test_authorization_seen_is_counted(self):
        self.hub.reset_counters()
        request(self.location())
        self.assertEqual(self.hub.counters["cdn_auth_seen"], 0)
        request(self.location(), headers={"Authorization": "Bearer hf_leak"})
        self.assertEqual(self.hub.counters["cdn_auth_seen"], 1)


class TestAuth(Case):
    def check(self, path_fn, expect):
        for token, (status, code) in expect.items():
            with self.subTest(token=token):
                r = self.hub_req(path_fn, headers={"Authorization": "Bearer " + token} if token else {})
                if code is None:
                    self.assertEqual(r.status, status, r)
                else:
                    self.assertError(r, status, code)

    def test_gated(self):
        exp = {None: (401, "GatedRepo"), OTHER: (403, "GatedRepo"), GOOD: (200, None)}
        for p in ("/%s/resolve/main/g.txt" % GATED, "/api/models/%s" % GATED,
                  "/api/models/%s/tree/main" % GATED, "/api/models/%s/xet-read-token/main" % GATED):
            self.check(p, exp)
        r = self.resolve("g.safetensors", repo=GATED, headers={"Authorization": "Bearer " + GOOD})
        self.assertEqual(r.status, 302)

    def test_private_and_missing(self):
        exp = {None: (401, "RepoNotFound"), OTHER: (404, "RepoNotFound"), GOOD: (200, None)}
        for p in ("/%s/resolve/main/secret.txt" % PRIVATE, "/api/models/%s" % PRIVATE,
                  "/api/models/%s/refs" % PRIVATE):
            self.check(p, exp)
        self.check("/api/models/org/missing", {None: (401, "RepoNotFound"), GOOD: (404, "RepoNotFound")})
        r = self.hub_req("/api/models/%s" % PRIVATE)
        self.assertEqual(r.h("X-Error-Message"), "Invalid username or password.")
        self.assertNotIn(b"secret", r.body)

    def test_invalid_token(self):
        r = self.hub_req("/api/models/%s" % MODEL, headers={"Authorization": "Bearer not-a-hub-token"})
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.h("X-Error-Code"))
        self.assertEqual(r.h("X-Error-Message"), "Invalid credentials in Authorization header")
        self.assertEqual(self.resolve("README.md", headers={"Authorization": "Bearer " + OTHER}).status, 200)


class TestApi(Case):
    def tree(self, rev="main", path="", repo=MODEL, **params):
        q = urllib.parse.urlencode(params)
        p = "/api/models/%s/tree/%s%s" % (repo, urllib.parse.quote(rev, safe=""),
                                          "/" + urllib.parse.quote(path, safe="") if path else "")
        r = self.hub_req(p + ("?" + q if q else ""))
        self.assertEqual(r.status, 200, r)
        return r

    def test_info(self):
        for p in ("/api/models/%s" % MODEL, "/api/models/%s/revision/main" % MODEL,
                  "/api/models/%s/revision/HEAD" % MODEL):
            d = self.hub_req(p).json()
            self.assertEqual((d["id"], d["sha"], d["private"], d["gated"]), (MODEL, Fx.c2, False, False))
            self.assertTrue(d["_id"])
            self.assertRegex(d["lastModified"], ISO_RE)
            self.assertEqual(sorted(s["rfilename"] for s in d["siblings"]),
                             sorted(set(Fx.files) | {"added.txt", "splice.bin"}))
        d = self.hub_req("/api/models/%s/revision/v1.0?blobs=true" % MODEL).json()
        self.assertEqual(d["sha"], Fx.c1)
        sib = {s["rfilename"]: s for s in d["siblings"]}
        self.assertEqual(sib["model.safetensors"]["lfs"]["sha256"],
                         hashlib.sha256(Fx.files["model.safetensors"]).hexdigest())
        d = self.hub_req("/api/models/%s" % GATED, headers={"Authorization": "Bearer " + GOOD}).json()
        self.assertEqual(d["gated"], "manual")
        self.assertEqual(self.hub_req("/api/datasets/%s" % DATASET).json()["id"], DATASET)
        r = self.hub_req("/api/models/%s/revision/nope" % MODEL)
        self.assertError(r, 404, "RevisionNotFound", "Invalid rev id: nope")

    def test_tree_entries(self):
        entries = {e["path"]: e for e in self.tree(recursive="true").json()}
        self.assertEqual(entries["sub"]["type"], "directory")
        self.assertRegex(entries["sub"]["oid"], HEX40)
        cfg = entries["config.json"]
        data = self.hub_req("/%s/resolve/main/config.json" % MODEL).body
        self.assertEqual((cfg["type"], cfg["oid"], cfg["size"]),
                         ("file", fakehub.git_blob_oid(data), len(data)))
        self.assertNotIn("lfs", cfg)
        st = entries["model.safetensors"]
        a = Fx.files["model.safetensors"]
        ptr = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
               % (hashlib.sha256(a).hexdigest(), len(a))).encode()
        self.assertEqual(st["oid"], fakehub.git_blob_oid(ptr))
        self.assertEqual(st["lfs"], {"oid": hashlib.sha256(a).hexdigest(), "size": len(a),
                                     "pointerSize": len(ptr)})
        self.assertEqual(st["size"], len(a))
        self.assertEqual(st["xetHash"], self.resolve("model.safetensors").h("X-Xet-Hash"))
        self.assertEqual(entries["sub/copy.safetensors"]["xetHash"], st["xetHash"])
        self.assertNotIn("xetHash", self.tree(repo=PLAIN).json()[0])
        top = [e["path"] for e in self.tree().json()]
        self.assertIn("sub", top)
        self.assertNotIn("sub/a.bin", top)
        self.assertEqual(sorted(e["path"] for e in self.tree(path="sub").json()),
                         ["sub/a.bin", "sub/copy.safetensors"])
        r = self.hub_req("/api/models/%s/tree/main/nope" % MODEL)
        self.assertError(r, 404, "EntryNotFound")

    def test_tree_expand_last_commit(self):
        entries = {e["path"]: e for e in self.tree(recursive="true", expand="true").json()}
        self.assertEqual(entries["config.json"]["lastCommit"]["id"], Fx.c2)
        self.assertEqual(entries["README.md"]["lastCommit"]["id"], Fx.c1)
        self.assertEqual(entries["README.md"]["lastCommit"]["title"], "initial commit")
        self.assertRegex(entries["README.md"]["lastCommit"]["date"], ISO_RE)

    def test_pagination(self):
        full = self.tree(repo=MANY, recursive="true").json()
        self.assertEqual(len(full), 7)   # 2 folders + 5 files
        self.hub.page_size = 2
        r = self.tree(repo=MANY, recursive="true", expand="false")
        got, pages = [], 0
        while True:
            pages += 1
            got += r.json()
            nxt = r.links().get("next")
            if not nxt:
                break
            self.assertTrue(nxt.startswith(self.hub.url + "/api/models/%s/tree/main?" % MANY), nxt)
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(nxt).query))
            self.assertEqual((q["recursive"], q["expand"]), ("true", "false"))
            self.assertIn("cursor", q)
            r = request(nxt)
            self.assertEqual(r.status, 200)
        self.assertEqual((got, pages), (full, 4))

    def test_paths_info(self):
        p = "/api/models/%s/paths-info/main" % MODEL
        r = self.hub_req(p, "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                         "paths=config.json&paths=sub&paths=nope&expand=false")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(e["path"], e["type"]) for e in r.json()],
                         [("config.json", "file"), ("sub", "directory")])
        r = self.hub_req(p, "POST", {"Content-Type": "application/json"},
                         json.dumps({"paths": ["model.safetensors"], "expand": True}))
        (e,) = r.json()
        self.assertEqual(e["lastCommit"]["id"], Fx.c1)
        self.assertIn("xetHash", e)
        r = self.hub_req(p, "POST", {"Content-Type": "application/json"}, json.dumps({"paths": "README.md"}))
        self.assertEqual([e["path"] for e in r.json()], ["README.md"])

    def test_refs_and_commits(self):
        d = self.hub_req("/api/models/%s/refs?include_prs=1" % MODEL).json()
        self.assertEqual(d["branches"], [{"name": "main", "ref": "refs/heads/main", "targetCommit": Fx.c2}])
        self.assertEqual(d["tags"], [{"name": "v1.0", "ref": "refs/tags/v1.0", "targetCommit": Fx.c1}])
        self.assertEqual(d["pullRequests"][0]["targetCommit"], Fx.pr)
        r = self.hub_req("/api/models/%s/commits/main" % MODEL)
        self.assertEqual([c["id"] for c in r.json()], [Fx.c2, Fx.c1])
        self.assertEqual(r.h("X-Total-Count"), "2")
        self.assertEqual(r.json()[0]["title"], "second commit")


class TestXet(Case):
    def test_token(self):
        r = self.hub_req("/api/models/%s/xet-read-token/%s" % (MODEL, Fx.c2))
        d = r.json()
        self.assertEqual(set(d), {"accessToken", "exp", "casUrl"})
        self.assertEqual(d["casUrl"], self.hub.cas_url)
        self.assertGreater(d["exp"], time.time())
        self.assertEqual((r.h("X-Xet-Cas-Url"), r.h("X-Xet-Access-Token"), r.h("X-Xet-Token-Expiration")),
                         (d["casUrl"], d["accessToken"], str(d["exp"])))
        self.assertError(self.hub_req("/api/models/%s/xet-read-token/nope" % MODEL), 404, "RevisionNotFound")

    def test_v2_whole_file_spans_several_xorbs(self):
        data = Fx.files["model.safetensors"]
        doc, out = self.xet_download(self.xet_hash("model.safetensors"))
        self.assertGreaterEqual(len(doc["xorbs"]), 2)
        self.assertEqual(doc["offset_into_first_range"], 0)
        self.assertEqual(out, data)
        for xh in doc["xorbs"]:
            self.assertLessEqual(len(self.hub.xorbs[xh].chunks), 8)

    def test_dedup_and_multirange(self):
        self.assertEqual(self.xet_hash("sub/copy.safetensors"), self.xet_hash("model.safetensors"))
        doc, out = self.xet_download(self.xet_hash("splice.bin"))
        self.assertEqual(out, Fx.splice)
        self.assertTrue(set(doc["xorbs"]) <= Fx.xorbs_before_splice, "splice.bin must reuse xorbs")
        multi = [e for fetch in doc["xorbs"].values() for e in fetch if len(e["ranges"]) > 1]
        self.assertTrue(multi, doc)
        self.hub.reset_counters()
        self.xet_download(self.xet_hash("splice.bin"))
        self.assertGreaterEqual(self.hub.counters["xorb_multirange"], 1)

    def test_v1_and_legacy_paths(self):
        doc, out = self.xet_download(self.xet_hash("splice.bin"), version="v1")
        self.assertEqual(out, Fx.splice)
        self.assertIn("fetch_info", doc)
        tok = self.xet_token()
        for p in ("/reconstructions/", "/reconstruction/"):
            r = request(self.hub.cas_url + p + self.xet_hash("sub/a.bin"),
                        headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.status, 200)
            self.assertIn("fetch_info", r.json())

    def test_ranged_reconstruction(self):
        data = Fx.files["model.safetensors"]
        fh = self.xet_hash("model.safetensors")
        for a, b in ((0, 0), (131000, 131199), (700000, 1300000), (1499990, 2000000)):
            doc, out = self.xet_download(fh, "bytes=%d-%d" % (a, b))
            self.assertEqual(out[:b - a + 1], data[a:b + 1], (a, b))
        r = request("%s/v2/reconstructions/%s" % (self.hub.cas_url, fh),
                    headers={"Authorization": "Bearer " + self.xet_token(), "Range": "bytes=%d-" % len(data)})
        self.assertEqual(r.status, 416)

    def test_cas_auth(self):
        url = "%s/v2/reconstructions/%s" % (self.hub.cas_url, self.xet_hash("sub/a.bin"))
        self.assertEqual(request(url).status, 401)
        self.assertEqual(request(url, headers={"Authorization": "Bearer " + GOOD}).status, 401)
        tok = self.xet_token()
        self.assertEqual(request(url, headers={"Authorization": "Bearer " + tok[:-1] + "x"}).status, 401)
        gated_tok = self.xet_token(GATED, GOOD)   # scoped to another repo
        self.assertEqual(request(url, headers={"Authorization": "Bearer " + gated_tok}).status, 403)
        self.hub.token_ttl = -10
        self.assertEqual(request(url, headers={"Authorization": "Bearer " + self.xet_token()}).status, 401)

    def test_signed_xorb_ranges(self):
        tok = self.xet_token()
        r = request("%s/v2/reconstructions/%s" % (self.hub.cas_url, self.xet_hash("model.safetensors")),
                    headers={"Authorization": "Bearer " + tok}).json()
        xh, (entry,) = next(iter(r["xorbs"].items()))
        a, b = entry["ranges"][0]["bytes"]["start"], entry["ranges"][0]["bytes"]["end"]
        size = len(self.hub.xorbs[xh].data)
        self.assertEqual(request(entry["url"], headers={"Range": "bytes=%d-%d" % (a, b)}).status, 206)
        if b + 1 < size:
            self.assertEqual(request(entry["url"], headers={"Range": "bytes=%d-%d" % (a, b + 1)}).status, 403)
        sub = request(entry["url"], headers={"Range": "bytes=%d-%d" % (a, a + 7)})   # inside: allowed
        self.assertEqual((sub.status, sub.body), (206, self.hub.xorbs[xh].data[a:a + 8]))
        self.assertEqual(request(entry["url"].replace("Signature=", "Signature=0")).status, 403)
        other = entry["url"].replace("bytes%%3D%d-%d" % (a, b), "bytes%%3D0-%d" % (size + 5))
        self.assertNotEqual(other, entry["url"])
        self.assertEqual(request(other, headers={"Range": "bytes=0-10"}).status, 403)
        self.hub.xorb_ttl = -10
        r = request("%s/v2/reconstructions/%s" % (self.hub.cas_url, self.xet_hash("model.safetensors")),
                    headers={"Authorization": "Bearer " + tok}).json()
        (entry,) = r["xorbs"][xh]
        self.assertEqual(request(entry["url"], headers={"Range": "bytes=%d-%d" % (a, b)}).status, 403)

    def test_build_verification_fails_loudly(self):
        data = Fx.files["model.safetensors"]
        chunks = fakehub.xet_chunks(self.hub.hubgate, data)
        span = data[:chunks[2].off]
        fakehub.build_xorb(self.hub.hubgate, span, chunks[:2])            # fine
        with self.assertRaises(fakehub.XetBuildError):
            fakehub.build_xorb(self.hub.hubgate, span, chunks[:1])       # wrong chunk list
        with fakehub.FakeHub(hubgate="/nonexistent/hubgate") as h:
            h.add_repo("a/b", {"x.txt": b"regular files need no CLI"})
            with self.assertRaises(fakehub.XetBuildError):
                h.add_repo("a/c", {"x.bin": b"lfs needs it"})


class TestFaults(Case):
    def test_down_fails_fast_then_recovers(self):
        self.hub.faults.down = True
        for url in (self.hub.url + "/api/models/%s" % MODEL, self.hub.cdn_url + "/lfs/x",
                    self.hub.cas_url + "/v2/reconstructions/x"):
            t = time.time()
            with self.assertRaises((ConnectionError, http.client.HTTPException, socket.timeout)):
                request(url, timeout=5)
            self.assertLess(time.time() - t, 2)
        self.hub.faults.down = False
        self.assertEqual(self.hub_req("/api/models/%s" % MODEL).status, 200)

    def test_hosts_filter(self):
        loc = self.resolve("sub/a.bin").h("Location")
        self.hub.faults.hosts = {"cdn"}
        self.hub.faults.down = True
        self.assertEqual(self.resolve("sub/a.bin").status, 302)
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            request(loc)

    def test_slow(self):
        data = Fx.files["README.md"]     # ~1.1 KB
        self.hub.faults.slow_bps = 2000
        t = time.time()
        r = self.resolve("README.md", method="GET")
        self.assertEqual(r.body, data)
        self.assertGreater(time.time() - t, len(data) / 2000 * 0.8)

    def test_reset_after(self):
        loc = self.resolve("model.safetensors").h("Location")
        data = Fx.files["model.safetensors"]
        self.hub.faults.reset_after = 1000
        self.assertEqual(self.hub_req("/api/models/%s" % MODEL).status, 200)   # JSON is not cut
        self.assertEqual(self.resolve("config.json", method="GET").status, 200)  # too short to cut
        u = urllib.parse.urlsplit(loc)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("GET", u.path + "?" + u.query)
        r = c.getresponse()
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(cm.exception.partial, data[:1000])
        c.close()
        self.assertIsNone(self.hub.faults.reset_after)                  # cleared itself
        self.assertEqual(request(loc).body, data)
        self.hub.faults.reset_times = 2
        self.hub.faults.reset_after = 10
        self.hub.faults.reset_mode = "rst"
        for _ in range(2):
            with self.assertRaises((http.client.IncompleteRead, ConnectionError)):
                request(loc)
        self.assertEqual(request(loc).body, data)
        self.assertEqual(self.hub.counters["fault_reset"] >= 3, True)

    def test_corrupt(self):
        self.hub.faults.corrupt = True
        data = Fx.files["README.md"]
        body = self.resolve("README.md", method="GET").body
        diff = [i for i in range(len(data)) if body[i] != data[i]]
        self.assertEqual(diff, [len(data) // 2])
        a = Fx.files["model.safetensors"]
        body = request(self.resolve("model.safetensors").h("Location")).body
        self.assertEqual(len(body), len(a))
        self.assertEqual([i for i in range(len(a)) if body[i] != a[i]], [len(a) // 2])
        try:
            _, out = self.xet_download(self.xet_hash("model.safetensors"))
        except ValueError:    # a chunk no longer decodes
            out = None
        self.assertNotEqual(out, a)
        self.hub.faults.corrupt = False
        self.assertEqual(self.xet_download(self.xet_hash("model.safetensors"))[1], a)

    def test_429(self):
        self.hub.faults.status_429 = 2
        for _ in range(2):
            r = self.resolve("README.md")
            self.assertEqual((r.status, r.h("Retry-After")), (429, "1"))
            self.assertTrue(r.h("X-Request-Id"))
        self.assertEqual(self.resolve("README.md").status, 200)


class TestCounters(Case):
    def test_counts(self):
        hub = self.hub
        hub.reset_counters()
        self.resolve("README.md")
        self.resolve("README.md", method="GET")
        loc = self.resolve("model.safetensors").h("Location")
        request(loc)
        self.hub_req("/api/models/%s" % MODEL)
        self.hub_req("/api/models/%s/tree/main" % MODEL)
        self.hub_req("/api/models/%s/paths-info/main" % MODEL, "POST",
                     {"Content-Type": "application/x-www-form-urlencoded"}, "paths=README.md")
        doc, _ = self.xet_download(self.xet_hash("sub/a.bin"))
        c = hub.counters
        self.assertEqual((c["head_resolve"], c["get_resolve"], c["cdn_get"], c["api_info"], c["api_tree"],
                          c["api_paths_info"], c["xet_token"], c["recon_v2"], c["cdn_auth_seen"]),
                         (2, 1, 1, 1, 1, 1, 1, 1, 0))
        self.assertEqual(c["resolve_bytes"], len(Fx.files["README.md"]))
        self.assertEqual(c["cdn_bytes"], len(Fx.files["model.safetensors"]))
        self.assertEqual(c["xorb_get"], sum(len(v) for v in doc["xorbs"].values()))
        self.assertGreater(c["xorb_bytes"], 0)
        self.assertEqual(c["hub_requests"], 7)
        hub.reset_counters()
        self.assertEqual(hub.counters["head_resolve"], 0)
        self.assertTrue(any(r.host == "cdn" for r in hub.requests))


if __name__ == "__main__":
    unittest.main()
