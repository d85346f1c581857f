"""Pull-through gateway: a hubgate in front of another hubgate (its upstream).

The upstream is a real hubgate serving imported repos (--no-upstream); the gateway under test
runs with --upstream pointing at it.  Every answer the gateway gives for a repo it does not hold
comes through its upstream path: metadata relayed and cached, file bodies downloaded once,
verified, stored and served from the store, also when the upstream is gone.
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import time
import re
import unittest
import urllib.parse

import harness
import test_protocol

LINK_RE = harness.LINK_RE

REPO = "org/model"


def det_bytes(seed, n):
    return random.Random(seed).randbytes(n)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def h(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


def request(port, method, path, headers=None, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


def without_xet(v):
    """An upstream listing as the gateway relays it: no xetHash (hub-protocol.md S1)."""
    for e in v if isinstance(v, list) else v.get("siblings", []):
        e.pop("xetHash", None)
    return v


def request_outcome(port, path, headers=None, timeout=60):
    """(status, body) of a GET, with body None when the connection broke before the announced
    Content-Length arrived (what a client sees when the gateway aborts a bad download)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        try:
            return r.status, r.read()
        except (http.client.IncompleteRead, ConnectionError):
            return r.status, None
    finally:
        c.close()


class GatewayCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-gateway-")
        src = os.path.join(cls.tmp, "src")
        os.makedirs(os.path.join(src, "sub"))
        cls.files = {
            "model.safetensors": det_bytes(1, 5 << 20),
            "config.json": b'{"hidden_size": 64}\n',
            "sub/notes.txt": b"hello from upstream\n",
        }
        for rel, data in cls.files.items():
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
        cls.up_data = os.path.join(cls.tmp, "upstream")
        cls.commit = harness.import_dir(cls.up_data, src, REPO)
        priv = os.path.join(cls.tmp, "priv")
        os.makedirs(priv)
        with open(os.path.join(priv, "secret.txt"), "wb") as f:
            f.write(b"secret\n")
        harness.import_dir(cls.up_data, priv, "org/private", "--private")
        other = os.path.join(cls.tmp, "other")
        os.makedirs(other)
        with open(os.path.join(other, "w.bin"), "wb") as f:
            f.write(det_bytes(3, 1 << 20))
        harness.import_dir(cls.up_data, other, "org/other")
        cls.up = harness.Server(cls.up_data).__enter__()
        cls.gw_data = os.path.join(cls.tmp, "gateway")
        cls.gw = harness.Server(cls.gw_data, "--upstream", cls.up.base, "--ref-ttl", "1").__enter__()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.gw, cls.up):
            if s:
                s.__exit__(None, None, None)
        harness.rmtree(cls.tmp)

    def gw_get(self, path, headers=None, method="GET", body=None):
        return request(self.gw.port, method, path, headers, body)

    def up_get(self, path, headers=None, method="GET", body=None):
        return request(self.up.port, method, path, headers, body)


class TestMetadata(GatewayCase):
    def test_info_tree_refs_commits_match_upstream(self):
        for p in ("/api/models/%s" % REPO, "/api/models/%s/revision/main" % REPO,
                  "/api/models/%s/revision/%s" % (REPO, self.commit),
                  "/api/models/%s/tree/main?recursive=true&expand=false" % REPO,
                  "/api/models/%s/tree/%s/sub" % (REPO, self.commit),
                  "/api/models/%s/refs" % REPO, "/api/models/%s/commits/main" % REPO):
            with self.subTest(path=p):
                g, u = self.gw_get(p), self.up_get(p)
                self.assertEqual(g.status, 200, g.body[:200])
                self.assertNotIn(b"xetHash", g.body)  # plain resolve only for upstream repos (S1)
                self.assertEqual(g.json(), without_xet(u.json()))
                self.assertTrue(g.h("X-Request-Id"))
        self.assertEqual(self.gw_get("/api/models/%s/commits/main" % REPO).h("X-Total-Count"), "1")

    def test_paths_info_post_relayed(self):
        body = "paths=config.json&paths=sub&expand=true"
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        g = self.gw_get("/api/models/%s/paths-info/main" % REPO, h, "POST", body)
        u = self.up_get("/api/models/%s/paths-info/main" % REPO, h, "POST", body)
        self.assertEqual(g.status, 200, g.body[:200])
        self.assertEqual(g.json(), without_xet(u.json()))

    def test_pagination_link_points_at_the_gateway(self):
        r = self.gw_get("/api/models/%s/commits/main?limit=1" % REPO)
        self.assertEqual(r.status, 200)
        link = r.h("Link")
        if link:  # one commit: no next page; the header must never name the upstream
            self.assertNotIn(self.up.base, link)

    def test_missing_repo_and_revision_errors_relayed(self):
        r = self.gw_get("/api/models/org/does-not-exist")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.h("X-Error-Code"), "RepoNotFound")
        r = self.gw_get("/api/models/%s/revision/no-such-branch" % REPO)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.h("X-Error-Code"), "RevisionNotFound")

    def test_private_upstream_repo_stays_hidden(self):
        for p in ("/api/models/org/private", "/org/private/resolve/main/secret.txt"):
            with self.subTest(path=p):
                r = self.gw_get(p)
                self.assertEqual(r.status, 401, r.body[:200])
                self.assertNotIn(b"secret", r.body)


class TestFiles(GatewayCase):
    def test_downloads_are_byte_identical_with_hub_headers(self):
        for rel, data in self.files.items():
            with self.subTest(file=rel):
                r = self.gw_get("/%s/resolve/main/%s" % (REPO, rel))
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, data)
                self.assertEqual(r.h("X-Repo-Commit"), self.commit)
                u = self.up_get("/%s/resolve/main/%s" % (REPO, rel), method="HEAD")
                self.assertEqual(r.h("ETag"), u.h("ETag"))
                if rel.endswith(".safetensors"):
                    self.assertEqual(r.h("X-Linked-Size"), str(len(data)))
                    self.assertEqual(r.h("ETag"), '"%s"' % hashlib.sha256(data).hexdigest())

    def test_range_and_resume(self):
        data = self.files["model.safetensors"]
        r = self.gw_get("/%s/resolve/%s/model.safetensors" % (REPO, self.commit), {"Range": "bytes=1000-"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, data[1000:])
        self.assertIn("immutable", r.h("Cache-Control"))

    def test_missing_file_404_with_commit(self):
        r = self.gw_get("/%s/resolve/main/nope.bin" % REPO)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.h("X-Error-Code"), "EntryNotFound")
        self.assertEqual(r.h("X-Repo-Commit"), self.commit)

    def xet_fetch(self, link_header, xet_hash, auth="Bearer hf_user"):
        """hf_xet's path: token from the xet-auth link, v2 reconstruction, signed xorb ranges."""
        links = dict((rel, url) for url, rel in LINK_RE.findall(link_header))
        tok_url = urllib.parse.urlsplit(links["xet-auth"])
        self.assertEqual("%s://%s" % (tok_url.scheme, tok_url.netloc), self.gw.base)
        tok = self.gw_get(tok_url.path, {"Authorization": auth})
        self.assertEqual(tok.status, 200, tok.body[:200])
        tok = tok.json()
        self.assertEqual(tok["casUrl"], self.gw.base, "clients get the gateway's own CAS")
        rec = self.gw_get("/v2/reconstructions/" + xet_hash, {"Authorization": "Bearer " + tok["accessToken"]})
        return tok, rec

    def test_warm_lfs_file_through_the_gateways_own_xet_cas(self):
        data = self.files["model.safetensors"]
        path = "/%s/resolve/main/model.safetensors" % REPO
        self.assertEqual(self.gw_get(path).body, data)  # warms the cache (plain path)
        # The download is ingested into xorbs just after its last byte went out: Xet is offered
        # from then on.
        deadline = time.monotonic() + 20
        while True:
            h = self.gw_get(path, {"Accept-Encoding": "identity"}, method="HEAD")
            self.assertEqual(h.status, 200)
            xh = h.h("X-Xet-Hash")
            if xh or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertRegex(xh or "", "^[0-9a-f]{64}$")
        before = self.up.metrics()
        tok, rec = self.xet_fetch(h.h("Link"), xh)
        self.assertEqual(rec.status, 200, rec.body[:200])
        out = bytearray()
        chunks = {}
        for xorb, entries in rec.json()["xorbs"].items():
            for e in entries:
                self.assertTrue(e["url"].startswith(self.gw.base + "/xorbs/"), e["url"])
                for g in e["ranges"]:
                    r = self.gw_get(urllib.parse.urlsplit(e["url"]).path + "?" + urllib.parse.urlsplit(e["url"]).query,
                                    {"Range": "bytes=%d-%d" % (g["bytes"]["start"], g["bytes"]["end"])})
                    self.assertEqual(r.status, 206)
                    n = g["chunks"]["end"] - g["chunks"]["start"]
                    for k, raw in enumerate(test_protocol.decode_chunk_records(r.body, n)):
                        chunks[(xorb, g["chunks"]["start"] + k)] = raw
        for t in rec.json()["terms"]:
            out += b"".join(chunks[(t["hash"], i)] for i in range(t["range"]["start"], t["range"]["end"]))
        self.assertEqual(bytes(out), data)
        after = self.up.metrics()
        for route in ("xet_token", "reconstruction_v2", "xorb", "resolve"):
            key = 'hubgate_requests_total{route="%s"}' % route
            self.assertEqual(after[key], before[key], "the upstream saw a %s request" % route)
        # JS probe: mode D from the gateway
        d = self.gw_get(path, {"Range": "bytes=0-0", "Accept": "application/vnd.xet-fileinfo+json, */*"})
        self.assertEqual(d.h("Content-Type"), "application/vnd.xet-fileinfo+json")
        self.assertEqual(d.h("X-Xet-Hash"), xh)
        # A token for another repo does not open this file.
        other = self.gw_get("/org/other/resolve/main/w.bin").status
        self.assertEqual(other, 200)
        tok2 = self.gw_get("/api/models/org/other/xet-read-token/main", {"Authorization": "Bearer hf_user"}).json()
        r = self.gw_get("/v2/reconstructions/" + xh, {"Authorization": "Bearer " + tok2["accessToken"]})
        self.assertEqual(r.status, 404)
        # Nor does a token for a private upstream repo exist without upstream's consent.
        r = self.gw_get("/api/models/org/private/xet-read-token/main")
        self.assertEqual(r.status, 401)

    def test_head_does_not_download(self):
        before = self.gw.metrics().get("hubgate_upstream_downloads_total", 0)
        r = self.gw_get("/%s/resolve/main/sub/notes.txt" % REPO, method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Length"), str(len(self.files["sub/notes.txt"])))
        self.assertEqual(self.gw.metrics().get("hubgate_upstream_downloads_total", 0), before)


class TestCoalescingAndOffline(unittest.TestCase):
    """A fresh pair per test: counters start from zero and the upstream can be stopped."""

    def setUp(self):
        self.tmp = harness.tempdir("hubgate-gateway2-")
        src = os.path.join(self.tmp, "src")
        os.makedirs(src)
        self.data = det_bytes(7, 8 << 20)
        with open(os.path.join(src, "big.safetensors"), "wb") as f:
            f.write(self.data)
        with open(os.path.join(src, "README.md"), "wb") as f:
            f.write(b"# readme\n")
        self.up_data = os.path.join(self.tmp, "up")
        self.commit = harness.import_dir(self.up_data, src, REPO)
        self.up = harness.Server(self.up_data).__enter__()
        self.gw = harness.Server(os.path.join(self.tmp, "gw"), "--upstream", self.up.base).__enter__()

    def tearDown(self):
        self.gw.__exit__(None, None, None)
        if self.up:
            self.up.__exit__(None, None, None)
        harness.rmtree(self.tmp)

    def test_16_cold_clients_one_upstream_body(self):
        path = "/%s/resolve/main/big.safetensors" % REPO
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            results = list(ex.map(lambda _: request(self.gw.port, "GET", path, timeout=60), range(16)))
        for r in results:
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(self.data).digest())
        m = self.gw.metrics()
        ratio = m["hubgate_upstream_body_bytes_total"] / len(self.data)
        print("\n  16 cold clients: upstream body bytes / file bytes = %.3f" % ratio)
        self.assertEqual(m["hubgate_upstream_downloads_total"], 1)
        self.assertLessEqual(ratio, 1.02)
        # warm: no upstream body bytes at all
        r = request(self.gw.port, "GET", path)
        self.assertEqual(r.body, self.data)
        self.assertEqual(self.gw.metrics()["hubgate_upstream_body_bytes_total"], m["hubgate_upstream_body_bytes_total"])

    def test_cached_snapshot_served_with_upstream_down(self):
        paths = ["/api/models/%s" % REPO, "/api/models/%s/tree/main" % REPO,
                 "/%s/resolve/main/big.safetensors" % REPO, "/%s/resolve/main/README.md" % REPO]
        warm = [request(self.gw.port, "GET", p) for p in paths]
        self.assertTrue(all(r.status == 200 for r in warm))
        self.up.__exit__(None, None, None)
        self.up = None
        for p, w in zip(paths, warm):
            with self.subTest(path=p):
                r = request(self.gw.port, "GET", p)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, w.body)
        t0 = time.monotonic()
        r = request(self.gw.port, "GET", "/%s/resolve/main/never-fetched.txt" % REPO)
        took = time.monotonic() - t0
        self.assertIn(r.status, (502, 504))
        self.assertIn("Upstream", r.h("X-Error-Message"))
        self.assertLess(took, 15, "uncached requests must fail fast with the upstream down")

    def test_corrupt_upstream_bytes_never_delivered(self):
        # Damage the upstream's stored copy: it aborts the body (it verifies on read) and the
        # gateway must answer with an error, keep nothing, and succeed once the bytes are good.
        xorbs = []
        for root, _, names in os.walk(os.path.join(self.up_data, "xorbs")):
            xorbs += [os.path.join(root, n) for n in names]
        big = max(xorbs, key=os.path.getsize)
        with open(big, "r+b") as f:
            f.seek(os.path.getsize(big) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        path = "/%s/resolve/main/big.safetensors" % REPO
        for attempt in (1, 2):  # nothing bad is kept: the second request fetches again
            status, body = request_outcome(self.gw.port, path)
            # Streaming may have begun: then the connection is cut short, never completed.
            self.assertTrue(status in (502, 504) or body is None, "bad bytes delivered (%s)" % status)
            self.assertEqual(self.gw.metrics().get("hubgate_upstream_downloads_total"), attempt)
        # Repaired upstream: the same gateway now serves the right bytes, and keeps them.
        with open(big, "r+b") as f:
            f.seek(os.path.getsize(big) // 2)
            f.write(b)
        status, body = request_outcome(self.gw.port, path)
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.data).digest())

    def test_local_repo_shadows_upstream(self):
        local = os.path.join(self.tmp, "local")
        os.makedirs(local)
        with open(os.path.join(local, "README.md"), "wb") as f:
            f.write(b"# the local one\n")
        self.gw.__exit__(None, None, None)
        harness.import_dir(self.gw.data, local, REPO)
        self.gw = harness.Server(self.gw.data, "--upstream", self.up.base).__enter__()
        r = request(self.gw.port, "GET", "/%s/resolve/main/README.md" % REPO)
        self.assertEqual(r.body, b"# the local one\n")


if __name__ == "__main__":
    unittest.main()
