"""Pull-through gateway against a fake huggingface.co (fakehub.py): Hub API, signed LFS CDN,
Xet CAS, gated and private repos, and upstream faults.

Every request is made with http.client the way huggingface_hub makes it: the metadata HEAD sends
Accept-Encoding: identity and follows relative redirects only; downloads are plain GETs, resumed
with Range: bytes=N-.  Each assertion compares the gateway with the fake's own answer or with the
source bytes, and the fake's counters (per host, per route, body bytes, faults) show what the
gateway asked upstream.

One fake for the module (its faults are cleared and its counters reset before every test); a
shared warm gateway for the read-only cases, a fresh (cold) gateway wherever a test counts
upstream traffic or injects faults.  Run:
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_gateway_fake
"""
import concurrent.futures
import fcntl
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import fakehub
import harness
import test_protocol

LINK_RE = harness.LINK_RE
MiB = 1 << 20

PLAIN = "org/plain"        # LFS through the signed CDN (xet=False)
XET = "org/xet"            # LFS through the Xet CAS
DATASET = "org/ds"
GATED = "org/gated"        # gated, granted to hf_good (xet)
PRIVATE = "org/private"    # private, granted to hf_good (CDN)
GOOD, BAD = "hf_good", "hf_bad"
MANY = "org/many"          # 40 small regular files

HUB = None                 # the FakeHub
FILES = {}                 # repo -> {path: bytes} at main
COMMITS = {}               # repo -> [commit ids, oldest first]
TMP = None
_seq = [0]


def det(seed, n):
    return random.Random(seed).randbytes(n)


def setUpModule():
    global HUB, TMP
    # The gateway would take $HF_TOKEN as its own upstream token: the tests need it anonymous.
    os.environ.pop("HF_TOKEN", None)
    TMP = harness.tempdir("hubgate-gwfake-")
    HUB = fakehub.FakeHub(hubgate=harness.HUBGATE, page_size=2)
    plain = {
        "config.json": b'{"hidden_size": 64, "rev": 1}\n',
        "README.md": b"# plain\n",
        "sub/notes.txt": b"hello from the fake hub\n",
        "sub/deep/leaf.txt": b"a leaf\n" * 100,
        "model.safetensors": det(11, 3 * MiB + 123),
        "w/pytorch_model.bin": det(12, 2 * MiB + 7),
        "big.bin": det(13, 4 * MiB),
    }
    COMMITS[PLAIN] = [HUB.add_repo(PLAIN, plain, xet=False, message="initial commit")]
    COMMITS[PLAIN].append(HUB.add_commit(PLAIN, {"config.json": b'{"hidden_size": 64, "rev": 2}\n'},
                                         message="second: edit config"))
    COMMITS[PLAIN].append(HUB.add_commit(PLAIN, {"added.txt": b"added in the third commit\n"},
                                         message="third: add a file"))
    plain["config.json"] = b'{"hidden_size": 64, "rev": 2}\n'
    plain["added.txt"] = b"added in the third commit\n"
    FILES[PLAIN] = plain
    FILES[XET] = {
        "config.json": b'{"hidden_size": 32}\n',
        "sub/a.txt": b"xet repo text\n",
        "model.safetensors": det(21, 3 * MiB + 321),
        "w/pytorch_model.bin": det(22, 2 * MiB + 11),
    }
    COMMITS[XET] = [HUB.add_repo(XET, FILES[XET], xet=True)]
    FILES[DATASET] = {"README.md": b"# dataset\n", "data/train.parquet": det(31, 300_000)}
    COMMITS[DATASET] = [HUB.add_repo(DATASET, FILES[DATASET], type="dataset", xet=True)]
    FILES[GATED] = {"config.json": b'{"gated": true}\n', "secret.txt": b"gated secret text\n",
                    "weights.safetensors": det(41, MiB + 5)}
    COMMITS[GATED] = [HUB.add_repo(GATED, FILES[GATED], gated=True, xet=True)]
    HUB.grant(GATED, GOOD)
    FILES[PRIVATE] = {"secret.txt": b"private secret text\n", "w.bin": det(51, 512 * 1024)}
    COMMITS[PRIVATE] = [HUB.add_repo(PRIVATE, FILES[PRIVATE], private=True, xet=False)]
    HUB.grant(PRIVATE, GOOD)
    FILES[MANY] = {"f%02d.txt" % i: b"small file %d\n" % i for i in range(40)}
    COMMITS[MANY] = [HUB.add_repo(MANY, FILES[MANY], xet=False)]


def tearDownModule():
    if HUB:
        HUB.close()
    if TMP and not os.environ.get("HUBGATE_TEST_DEBUG"):
        harness.rmtree(TMP)


# ---------------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------------

Resp, request = harness.Resp, harness.request


def port_of(base):
    return urllib.parse.urlsplit(base).port


def auth(token):
    return {"Authorization": "Bearer " + token} if token else {}


def py_head(port, path, token=None):
    """huggingface_hub's get_hf_file_metadata: HEAD with Accept-Encoding: identity, following
    relative redirects only (keeping the original query); an absolute redirect is final."""
    url = path
    for _ in range(10):
        r = request(port, "HEAD", url, {"Accept-Encoding": "identity", **auth(token)})
        loc = r.h("Location")
        if r.status in (301, 302, 303, 307, 308) and loc and loc.startswith("/"):
            q = urllib.parse.urlsplit(url).query
            url = urllib.parse.urlsplit(loc).path + ("?" + q if q else "")
            continue
        return r
    raise AssertionError("HEAD redirect loop at %s" % path)


def without_xet(v):
    """A fake listing as the gateway relays it: no xetHash."""
    for e in v if isinstance(v, list) else v.get("siblings", []):
        e.pop("xetHash", None)
    return v


def upstream_requests():
    c = HUB.counters
    return c["hub_requests"] + c["cdn_requests"] + c["cas_requests"] + c["fault_down"]


def resolve_path(repo, path, rev="main", rtype="model"):
    prefix = "" if rtype == "model" else rtype + "s/"
    return "/%s%s/resolve/%s/%s" % (prefix, repo, urllib.parse.quote(rev, safe=""),
                                    urllib.parse.quote(path))


def sha(b):
    return hashlib.sha256(b).hexdigest()


class GatewayCase(unittest.TestCase):
    """A test with the module's fake; self.gw is a fresh gateway unless the class shares one."""

    shared = False
    gw_args = ()

    @classmethod
    def setUpClass(cls):
        cls.cls_gw = cls.start_gateway(*cls.gw_args) if cls.shared else None

    @classmethod
    def tearDownClass(cls):
        if cls.cls_gw:
            cls.stop_gateway(cls.cls_gw)

    @staticmethod
    def start_gateway(*extra):
        _seq[0] += 1
        if os.environ.get("HUBGATE_TEST_DEBUG"):
            extra = ("--log-level", "debug", *extra)
        return harness.Server(os.path.join(TMP, "gw%d" % _seq[0]), "--upstream", HUB.url,
                              *extra).__enter__()

    @staticmethod
    def stop_gateway(gw):
        keep = os.environ.get("HUBGATE_TEST_DEBUG")
        if keep:
            import shutil
            shutil.copy(gw.log.name, os.path.join(keep, os.path.basename(gw.data) + ".log"))
        gw.__exit__(None, None, None)

    def setUp(self):
        HUB.faults.clear()
        HUB.reset_counters()
        self.gw = self.cls_gw or self.start_gateway(*self.gw_args)

    def tearDown(self):
        HUB.faults.clear()
        if not self.cls_gw:
            self.stop_gateway(self.gw)

    # requests to the gateway / to the fake itself
    def g(self, method, path, headers=None, body=None, timeout=60):
        return request(self.gw.port, method, path, headers, body, timeout)

    def f(self, method, path, headers=None, body=None):
        return request(port_of(HUB.url), method, path, headers, body)

    def get_ok(self, repo, path, token=None, rtype="model", rev="main", what=None):
        """A Python-like download: metadata HEAD, then a GET of the resolve URL; asserts the
        bytes equal the source."""
        data = FILES[repo][path] if rev == "main" else HUB.file(repo, path, rev, rtype).data
        what = what or "%s %s" % (repo, path)
        h = py_head(self.gw.port, resolve_path(repo, path, rev, rtype), token)
        self.assertEqual(h.status, 200, "%s: HEAD %r" % (what, h))
        r = self.g("GET", resolve_path(repo, path, rev, rtype), auth(token))
        self.assertEqual(r.status, 200, "%s: GET %r" % (what, r))
        self.assertTrue(r.complete, "%s: body cut short at %d of %s" % (what, len(r.body), r.h("Content-Length")))
        self.assertEqual(len(r.body), len(data), what)
        self.assertEqual(sha(r.body), sha(data), "%s: bytes differ" % what)
        return r

    def wait_xet(self, repo, path, token=None, rtype="model", timeout=20):
        """HEAD until the gateway advertises its own Xet for the stored file."""
        deadline = time.monotonic() + timeout
        while True:
            h = py_head(self.gw.port, resolve_path(repo, path, rtype=rtype), token)
            if h.h("X-Xet-Hash") or time.monotonic() > deadline:
                return h
            time.sleep(0.05)

    def xet_read(self, head, token=None):
        """hf_xet from the gateway: xet-auth token, v2 reconstruction, signed xorb ranges,
        decoded chunk records -> the file's bytes."""
        xh = head.h("X-Xet-Hash")
        self.assertRegex(xh or "", "^[0-9a-f]{64}$", "no X-Xet-Hash: %r" % head.headers)
        links = {rel: url for url, rel in LINK_RE.findall(head.h("Link") or "")}
        self.assertIn("xet-auth", links, head.h("Link"))
        tok_url = urllib.parse.urlsplit(links["xet-auth"])
        self.assertEqual("%s://%s" % (tok_url.scheme, tok_url.netloc), self.gw.base,
                         "xet-auth must point at the gateway")
        tok = self.g("GET", tok_url.path, auth(token))
        self.assertEqual(tok.status, 200, "xet token: %r" % tok)
        tok = tok.json()
        self.assertEqual(tok["casUrl"], self.gw.base, "the gateway's own CAS")
        rec = self.g("GET", "/v2/reconstructions/" + xh, {"Authorization": "Bearer " + tok["accessToken"]})
        self.assertEqual(rec.status, 200, "reconstruction: %r (token %r, from %s)" % (rec, tok, tok_url.path))
        rec = rec.json()
        chunks = {}
        for xorb, entries in rec["xorbs"].items():
            for e in entries:
                u = urllib.parse.urlsplit(e["url"])
                self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.gw.base, e["url"])
                for gr in e["ranges"]:
                    r = self.g("GET", u.path + "?" + u.query,
                               {"Range": "bytes=%d-%d" % (gr["bytes"]["start"], gr["bytes"]["end"])})
                    self.assertEqual(r.status, 206, "xorb range: %r" % r)
                    n = gr["chunks"]["end"] - gr["chunks"]["start"]
                    for k, raw in enumerate(test_protocol.decode_chunk_records(r.body, n)):
                        chunks[(xorb, gr["chunks"]["start"] + k)] = raw
        out = bytearray()
        for t in rec["terms"]:
            out += b"".join(chunks[(t["hash"], i)] for i in range(t["range"]["start"], t["range"]["end"]))
        return bytes(out[rec.get("offset_into_first_range", 0):])


# ---------------------------------------------------------------------------------------------
# Listings
# ---------------------------------------------------------------------------------------------

class TestListings(GatewayCase):
    shared = True

    def same(self, method, path, headers=None, body=None):
        g = self.g(method, path, headers, body)
        f = self.f(method, path, headers, body)
        self.assertEqual(f.status, 200, "the fake itself: %r" % f)
        self.assertEqual(g.status, 200, "%s %s: %r" % (method, path, g))
        self.assertNotIn(b"xetHash", g.body, "xetHash must be stripped from relayed listings")
        self.assertEqual(g.json(), without_xet(f.json()), "%s %s" % (method, path))
        return g, f

    def test_info_revision_commit_and_commits(self):
        for repo, t in ((PLAIN, "models"), (XET, "models"), (DATASET, "datasets")):
            c = COMMITS[repo][-1]
            for p in ("/api/%s/%s" % (t, repo), "/api/%s/%s?blobs=true" % (t, repo),
                      "/api/%s/%s/revision/main" % (t, repo), "/api/%s/%s/revision/%s" % (t, repo, c),
                      "/api/%s/%s/revision/%s?blobs=true" % (t, repo, c)):
                with self.subTest(path=p):
                    g, _ = self.same("GET", p)
                    self.assertEqual(g.json()["sha"], c)
        # an older commit of the branch
        g, _ = self.same("GET", "/api/models/%s/revision/%s" % (PLAIN, COMMITS[PLAIN][0]))
        self.assertEqual(g.json()["sha"], COMMITS[PLAIN][0])
        # commits: 3 on main, paginated by 2 like the fake
        g, f = self.same("GET", "/api/models/%s/commits/main" % PLAIN)
        self.assertEqual(g.h("X-Total-Count"), "3")
        self.assertEqual([c["id"] for c in g.json()], COMMITS[PLAIN][::-1][:2])
        self.check_next_link(g, f)

    def check_next_link(self, g, f):
        """-> the gateway path of the next page (asserting it names the gateway), or None."""
        fl = dict((rel, u) for u, rel in LINK_RE.findall(f.h("Link") or ""))
        gl = dict((rel, u) for u, rel in LINK_RE.findall(g.h("Link") or ""))
        self.assertEqual("next" in gl, "next" in fl, "Link next: gateway %r, fake %r" % (g.h("Link"), f.h("Link")))
        if "next" not in gl:
            return None, None
        self.assertNotIn(HUB.url, g.h("Link"), "the upstream's address leaked in Link")
        gu, fu = urllib.parse.urlsplit(gl["next"]), urllib.parse.urlsplit(fl["next"])
        self.assertEqual("%s://%s" % (gu.scheme, gu.netloc), self.gw.base, "Link next must point at the gateway")
        self.assertEqual(gu.path, fu.path)
        return gu.path + "?" + gu.query, fu.path + "?" + fu.query

    def walk(self, first):
        """Follows Link next on the gateway and on the fake in step; -> all entries."""
        gp, fp, out, pages = first, first, [], 0
        while gp:
            g, f = self.same("GET", gp) if gp == fp else (self.g("GET", gp), self.f("GET", fp))
            self.assertEqual(g.status, 200, "%s: %r" % (gp, g))
            self.assertEqual(g.json(), without_xet(f.json()), gp)
            self.assertNotIn(b"xetHash", g.body)
            out += g.json()
            pages += 1
            gp, fp = self.check_next_link(g, f)
        return out, pages

    def test_tree_recursive_paginated(self):
        for repo, t in ((PLAIN, "models"), (XET, "models"), (DATASET, "datasets")):
            for q in ("?recursive=true", "?recursive=true&expand=true", ""):
                for rev in ("main", COMMITS[repo][-1]):
                    with self.subTest(repo=repo, q=q, rev=rev):
                        entries, pages = self.walk("/api/%s/%s/tree/%s%s" % (t, repo, rev, q))
                        files = {e["path"] for e in entries if e["type"] == "file"}
                        if q.startswith("?recursive"):
                            self.assertEqual(files, set(FILES[repo]))
                            self.assertEqual(pages, (len(entries) + 1) // 2, "page_size=2")
                            for e in entries:
                                if e["type"] == "file":
                                    f = HUB.file(repo, e["path"], type=t[:-1])
                                    self.assertEqual(e["oid"], f.oid)
                                    if f.lfs:
                                        self.assertEqual(e["lfs"]["oid"], f.sha256)
        entries, _ = self.walk("/api/models/%s/tree/main/sub?recursive=true" % PLAIN)
        self.assertEqual({e["path"] for e in entries}, {"sub/notes.txt", "sub/deep", "sub/deep/leaf.txt"})

    def test_paths_info_form_and_json(self):
        for repo in (PLAIN, XET):
            for rev in ("main", COMMITS[repo][-1]):
                with self.subTest(repo=repo, rev=rev, form="urlencoded"):
                    g, _ = self.same("POST", "/api/models/%s/paths-info/%s" % (repo, rev),
                                     {"Content-Type": "application/x-www-form-urlencoded"},
                                     "paths=config.json&paths=sub&paths=model.safetensors&paths=nope&expand=true")
                    self.assertEqual({e["path"] for e in g.json()}, {"config.json", "sub", "model.safetensors"})
                with self.subTest(repo=repo, rev=rev, form="json"):
                    g, _ = self.same("POST", "/api/models/%s/paths-info/%s" % (repo, rev),
                                     {"Content-Type": "application/json"},
                                     json.dumps({"paths": ["w/pytorch_model.bin", "config.json"], "expand": True}))
                    self.assertEqual(len(g.json()), 2)

    def test_metadata_errors_relayed(self):
        cases = [("/api/models/org/nope", None, 401, "RepoNotFound"),
                 ("/api/models/org/nope", "hf_x", 404, "RepoNotFound"),
                 ("/api/models/%s/revision/nope" % PLAIN, None, 404, "RevisionNotFound"),
                 ("/api/models/%s/tree/main/nope" % PLAIN, None, 404, "EntryNotFound")]
        for p, tok, status, code in cases:
            with self.subTest(path=p, token=tok):
                g, f = self.g("GET", p, auth(tok)), self.f("GET", p, auth(tok))
                self.assertEqual(f.status, status)
                self.assertEqual((g.status, g.h("X-Error-Code")), (status, code), repr(g))


# ---------------------------------------------------------------------------------------------
# Resolve: HEAD metadata, downloads, errors, ranges
# ---------------------------------------------------------------------------------------------

class TestResolve(GatewayCase):
    shared = True

    def test_regular_files(self):
        for repo in (PLAIN, XET):
            for p, data in FILES[repo].items():
                if not HUB.file(repo, p).lfs:
                    with self.subTest(repo=repo, path=p):
                        self.get_ok(repo, p)
        self.assertGreater(HUB.counters["get_resolve"], 0)

    def test_lfs_via_cdn_never_gets_the_hub_token(self):
        for p in ("model.safetensors", "w/pytorch_model.bin"):
            with self.subTest(path=p):
                self.get_ok(PLAIN, p, token="hf_user_secret_token")
        self.assertGreater(HUB.counters["cdn_get"], 0, "the non-xet LFS bodies come from the CDN")
        self.assertEqual(HUB.counters["cdn_auth_seen"], 0, "the Hub token was sent to the CDN")
        self.assertEqual(HUB.counters["xorb_get"], 0)
        for e in HUB.requests:
            if e.host == "cdn":
                self.assertNotIn("authorization", e.headers)

    def test_lfs_via_xet_cas(self):
        before = self.gw.metrics()
        for p in ("model.safetensors", "w/pytorch_model.bin"):
            with self.subTest(path=p):
                self.get_ok(XET, p, token="hf_user")
        c = HUB.counters
        self.assertGreater(c["recon_v2"], 0, "a xet repo's LFS bodies come through the CAS: %r" % dict(c))
        self.assertGreater(c["xorb_get"], 0, dict(c))
        self.assertEqual(c["cdn_get"], 0, "the CDN was used for a xet file")
        self.assertEqual(c["xorb_auth_seen"], 0, "a token was sent with the signed xorb URLs")
        after = self.gw.metrics()
        self.assertGreater(after.get("hubgate_upstream_xet_bodies_total", 0),
                           before.get("hubgate_upstream_xet_bodies_total", 0))
        # a dataset's xet file
        self.get_ok(DATASET, "data/train.parquet", rtype="dataset")

    def test_head_headers(self):
        for repo in (PLAIN, XET):
            commit = COMMITS[repo][-1]
            for rev in ("main", commit):
                for p in FILES[repo]:
                    f = HUB.file(repo, p)
                    with self.subTest(repo=repo, path=p, rev=rev):
                        h = py_head(self.gw.port, resolve_path(repo, p, rev))
                        self.assertEqual(h.status, 200, repr(h))
                        self.assertEqual(h.h("X-Repo-Commit"), commit)
                        self.assertEqual(h.h("Content-Length"), str(f.size))
                        self.assertIn(h.h("Content-Encoding") or "identity", ("identity",))
                        if f.lfs:
                            self.assertEqual(h.h("ETag"), '"%s"' % f.sha256)
                            self.assertEqual(h.h("X-Linked-Etag"), '"%s"' % f.sha256)
                            self.assertEqual(h.h("X-Linked-Size"), str(f.size))
                        else:
                            self.assertEqual(h.h("ETag"), '"%s"' % fakehub.git_blob_oid(f.data))
        # an older commit: the file as it was
        h = py_head(self.gw.port, resolve_path(PLAIN, "config.json", COMMITS[PLAIN][0]))
        self.assertEqual(h.h("X-Repo-Commit"), COMMITS[PLAIN][0])
        self.assertEqual(h.h("ETag"), '"%s"' % HUB.file(PLAIN, "config.json", COMMITS[PLAIN][0]).blob_oid)
        r = self.g("GET", resolve_path(PLAIN, "config.json", COMMITS[PLAIN][0]))
        self.assertEqual(r.body, b'{"hidden_size": 64, "rev": 1}\n')

    def test_errors(self):
        commit = COMMITS[PLAIN][-1]
        for method in ("HEAD", "GET"):
            with self.subTest(method=method, case="EntryNotFound"):
                r = self.g(method, resolve_path(PLAIN, "no/such/file.bin"), {"Accept-Encoding": "identity"})
                self.assertEqual((r.status, r.h("X-Error-Code")), (404, "EntryNotFound"), repr(r))
                self.assertEqual(r.h("X-Repo-Commit"), commit)
            with self.subTest(method=method, case="RevisionNotFound"):
                r = self.g(method, resolve_path(PLAIN, "config.json", "no-such-branch"))
                self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"), repr(r))
            for tok, status in ((None, 401), ("hf_someone", 404)):
                with self.subTest(method=method, case="RepoNotFound", token=tok):
                    r = self.g(method, resolve_path("org/missing", "config.json"), auth(tok))
                    self.assertEqual((r.status, r.h("X-Error-Code")), (status, "RepoNotFound"), repr(r))
                    self.assertTrue(r.h("X-Error-Message"))

    def test_range_resume_cached_and_uncached(self):
        # uncached: a cold file, resumed at N as Python does after a cut
        for repo, p, n in ((PLAIN, "big.bin", 1234567), (XET, "w/pytorch_model.bin", 999_999),
                           (PLAIN, "sub/deep/leaf.txt", 100)):
            data = FILES[repo][p]
            for state in ("uncached", "cached"):
                with self.subTest(repo=repo, path=p, state=state):
                    r = self.g("GET", resolve_path(repo, p), {"Range": "bytes=%d-" % n})
                    self.assertEqual(r.status, 206, repr(r))
                    self.assertTrue(r.complete)
                    self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (n, len(data) - 1, len(data)))
                    self.assertEqual(r.h("Content-Length"), str(len(data) - n))
                    self.assertEqual(sha(r.body), sha(data[n:]))
                    if state == "uncached":
                        self.wait_xet(repo, p) if HUB.file(repo, p).lfs else None
            # JS probe and a closed range on the cached copy
            r = self.g("GET", resolve_path(repo, p), {"Range": "bytes=0-0"})
            self.assertEqual((r.status, r.h("Content-Range"), r.body), (206, "bytes 0-0/%d" % len(data), data[:1]))
            r = self.g("GET", resolve_path(repo, p), {"Range": "bytes=10-19"})
            self.assertEqual((r.status, r.body), (206, data[10:20]))


class TestXetFromTheGateway(GatewayCase):
    def test_warm_files_served_from_the_gateways_cas_without_upstream(self):
        for repo, files, tok in ((PLAIN, ("model.safetensors", "w/pytorch_model.bin"), None),
                                 (XET, ("model.safetensors", "w/pytorch_model.bin"), None),
                                 (XET, ("model.safetensors", "w/pytorch_model.bin"), "hf_user")):
            for k, p in enumerate(files):
                with self.subTest(repo=repo, path=p, token=tok):
                    data = FILES[repo][p]
                    self.get_ok(repo, p, tok)
                    h = self.wait_xet(repo, p, tok)
                    self.assertTrue(h.h("X-Xet-Hash"), "a stored LFS file is offered through Xet")
                    f = HUB.file(repo, p)
                    if f.xet_hash:
                        self.assertEqual(h.h("X-Xet-Hash"), f.xet_hash, "same content, same Xet file hash")
                    HUB.reset_counters()
                    got = self.xet_read(h, tok)
                    self.assertEqual(sha(got), sha(data))
                    c = HUB.counters
                    self.assertEqual(c["cdn_requests"] + c["cas_requests"], 0,
                                     "the Xet read of a stored file fetched content upstream: %r" % dict(c))
                    # The token route may confirm access upstream once per repo and token (a
                    # metadata call); after that the whole Xet read is local.
                    allowed = 1 if k == 0 else 0
                    self.assertLessEqual(c["hub_requests"], allowed,
                                         "the Xet read went upstream: %r" % dict(c))
                    self.assertEqual(c["get_resolve"] + c["head_resolve"], 0, dict(c))


# ---------------------------------------------------------------------------------------------
# Single flight and streaming
# ---------------------------------------------------------------------------------------------

class TestSingleFlight(GatewayCase):
    def cold_clients(self, repo, p, counter, n=16):
        data = FILES[repo][p]
        path = resolve_path(repo, p)
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            results = list(ex.map(lambda _: self.g("GET", path, {"Authorization": "Bearer hf_c"}), range(n)))
        for i, r in enumerate(results):
            self.assertEqual(r.status, 200, "client %d: %r" % (i, r))
            self.assertTrue(r.complete, "client %d cut short" % i)
            self.assertEqual(sha(r.body), sha(data), "client %d: bytes differ" % i)
        ratio = HUB.counters[counter] / len(data)
        print("\n  %d cold clients on %s: upstream %s / file bytes = %.4f" % (n, p, counter, ratio), end="")
        self.assertLessEqual(ratio, 1.02, dict(HUB.counters))
        self.assertGreaterEqual(ratio, 0.99)
        body_bytes = self.gw.metrics()["hubgate_upstream_body_bytes_total"]
        before = HUB.counters["cdn_bytes"] + HUB.counters["xorb_bytes"] + HUB.counters["resolve_bytes"]
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            warm = list(ex.map(lambda _: self.g("GET", path), range(4)))
        for r in warm:
            self.assertEqual(sha(r.body), sha(data))
        after = HUB.counters["cdn_bytes"] + HUB.counters["xorb_bytes"] + HUB.counters["resolve_bytes"]
        self.assertEqual(after, before, "a warm pass fetched body bytes upstream")
        self.assertEqual(self.gw.metrics()["hubgate_upstream_body_bytes_total"], body_bytes)

    def test_16_cold_clients_cdn(self):
        self.cold_clients(PLAIN, "big.bin", "cdn_bytes")
        self.assertEqual(HUB.counters["cdn_get"], 1)

    def test_16_cold_clients_xet(self):
        self.cold_clients(XET, "model.safetensors", "xorb_bytes")
        self.assertEqual(HUB.counters["recon_v2"], 1, dict(HUB.counters))


class TestBackToBack(GatewayCase):
    def test_again_right_after_the_first_download(self):
        """A request right after a download ends may find the transfer gone and the content not
        yet visible to its first lookup: it must still not download the body a second time."""
        commit = COMMITS[MANY][-1]
        for p, data in FILES[MANY].items():
            for _ in (1, 2):
                r = self.g("GET", resolve_path(MANY, p, commit))
                self.assertEqual((r.status, r.body), (200, data), p)
        self.assertEqual(HUB.counters["resolve_bytes"], sum(map(len, FILES[MANY].values())),
                         "a body was downloaded twice")


class TestStreaming(GatewayCase):
    def test_first_bytes_long_before_the_end_and_a_late_joiner(self):
        data = FILES[PLAIN]["big.bin"]
        path = resolve_path(PLAIN, "big.bin")
        HUB.faults.hosts = {"cdn"}
        HUB.faults.slow_bps = len(data) / 2.5           # about 2.5 s upstream
        late = {}

        def joiner():
            t0 = time.monotonic()
            r = self.g("GET", path)
            late.update(resp=r, t=time.monotonic() - t0)

        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
        c.request("GET", path)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        first = r.read(1)
        ttfb = time.monotonic() - t0
        th = None
        body = bytearray(first)
        while True:
            piece = r.read1(65536) if hasattr(r, "read1") else r.read(65536)
            if not piece:
                break
            body += piece
            if th is None and len(body) > len(data) // 3:
                th = threading.Thread(target=joiner)
                th.start()
        total = time.monotonic() - t0
        c.close()
        th.join(60)
        print("\n  cold GET: first byte after %.3f s, whole %d bytes after %.3f s; late joiner %.3f s"
              % (ttfb, len(data), total, late.get("t", -1)), end="")
        self.assertEqual(sha(bytes(body)), sha(data))
        self.assertGreater(total, 1.5, "the slow upstream was not slow")
        self.assertLess(ttfb, 0.4 * total, "the gateway buffered the download before the first byte")
        lr = late["resp"]
        self.assertEqual((lr.status, lr.complete), (200, True))
        self.assertEqual(sha(lr.body), sha(data), "the late joiner's bytes")
        self.assertEqual(HUB.counters["cdn_get"], 1, "the late joiner started a second download")
        cdn = [(q.method, q.path[:60], q.headers.get("range")) for q in list(HUB.requests)
               if q.host == "cdn"][-8:]
        self.assertLessEqual(HUB.counters["cdn_bytes"], len(data) * 1.02, (dict(HUB.counters), cdn))


class TestRangeFirst(GatewayCase):
    """A Range into a region the download has not reached is fetched first (a Range request of
    its own upstream) and streamed as it arrives; its last byte still waits for the verdict on
    the whole file and for the check that the region's bytes are the verified ones."""

    def follow(self, path, progress):
        """A plain GET in the background that records how many bytes arrived so far."""
        def run():
            c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
            c.request("GET", path)
            r = c.getresponse()
            progress["status"] = r.status
            body = bytearray()
            while True:
                piece = r.read1(65536)
                if not piece:
                    break
                body += piece
                progress["n"] = len(body)
            progress["body"] = bytes(body)
            c.close()
        th = threading.Thread(target=run)
        th.start()
        deadline = time.monotonic() + 20
        while not progress.get("n") and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertTrue(progress.get("n"), "the download did not start")
        return th

    def range_all_but_last(self, path, a, b):
        """GET Range a-b; reads all but the last byte -> (connection, response, bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
        c.request("GET", path, headers={"Range": "bytes=%d-%d" % (a, b)})
        r = c.getresponse()
        self.assertEqual(r.status, 206)
        got = bytearray()
        while len(got) < b - a:
            piece = r.read1(b - a - len(got))
            if not piece:
                break
            got += piece
        return c, r, bytes(got)

    def test_region_ahead_served_before_the_download_reaches_it(self):
        for repo, p in ((PLAIN, "big.bin"), (XET, "model.safetensors")):
            with self.subTest(repo=repo, path=p):
                HUB.reset_counters()
                data = FILES[repo][p]
                path = resolve_path(repo, p)
                a = len(data) - 300_000
                b = a + 65535
                HUB.faults.slow_bps = len(data) / 4.0       # about 4 s for the whole file
                progress = {}
                th = self.follow(path, progress)
                c, r, got = self.range_all_but_last(path, a, b)
                main_then = progress["n"]
                self.assertEqual(got, data[a:b], "the region's bytes")
                self.assertLess(main_then, a, "the download had reached the region anyway (the upstream "
                                "was not slow enough for this test to mean anything)")
                rest = r.read()                             # the last byte: after the verdict
                c.close()
                th.join(60)
                self.assertEqual(rest, data[b:b + 1])
                self.assertEqual(progress.get("status"), 200)
                self.assertEqual(sha(progress.get("body", b"")), sha(data), "the whole download")
                m = self.gw.metrics()
                self.assertGreaterEqual(m["hubgate_upstream_regions_first_total"], 1)
                ranged = [e.headers.get("range") for e in HUB.requests
                          if e.method == "GET" and e.host in ("cdn", "hub") and e.headers.get("range")]
                self.assertIn("bytes=%d-%d" % (a, b), ranged, "no upstream Range for the region")
                self.assertLessEqual(HUB.counters["cdn_bytes"] + HUB.counters["xorb_bytes"],
                                     1.02 * len(data) + (b - a + 1) + 65536, "more than the file and the region")

    def test_upstream_ignoring_the_range(self):
        """A CDN that answers a Range with the whole file: the region gives up at once (it must
        not skip gigabytes to reach its part), and the Range is served from the transfer."""
        data = FILES[PLAIN]["big.bin"]
        path = resolve_path(PLAIN, "big.bin")
        HUB.faults.hosts = {"cdn"}
        HUB.faults.slow_bps = len(data) / 2.0
        HUB.faults.ignore_range = True
        a = len(data) - 300_000
        r = self.g("GET", path, {"Range": "bytes=%d-%d" % (a, a + 65535)})
        self.assertEqual((r.status, r.complete, r.body), (206, True, data[a:a + 65536]))
        self.assertEqual(HUB.counters["cdn_get"], 2, "the transfer and the region's one try")
        self.assertLessEqual(HUB.counters["cdn_bytes"], len(data) + 2 * 65536,
                             "the region read on into a whole body it had not asked for")

    def test_region_unlike_the_verified_file_is_cut_off(self):
        """The region comes from a corrupt answer, the download itself is good: the Range that
        was given the region's bytes never completes; the file is cached and right."""
        data = FILES[PLAIN]["model.safetensors"]
        path = resolve_path(PLAIN, "model.safetensors")
        mid = len(data) // 2                                # where the fake corrupts a body
        a, b = mid - 1000, mid + 1000
        HUB.faults.hosts = {"cdn"}
        HUB.faults.slow_bps = len(data) / 4.0
        progress = {}
        th = self.follow(path, progress)                   # its body started clean
        HUB.faults.corrupt = True
        c, r, got = self.range_all_but_last(path, a, b)
        HUB.faults.corrupt = False
        self.assertGreater(HUB.counters["fault_corrupt"], 0, "the region was not fetched corrupt")
        self.assertLess(progress["n"], a, "the download had reached the region anyway")
        self.assertNotEqual(got, data[a:b], "the region's corrupt bytes were not what it streamed")
        try:
            rest = r.read()
        except (http.client.IncompleteRead, ConnectionError) as e:
            rest = getattr(e, "partial", b"")
        c.close()
        th.join(60)
        self.assertEqual(rest, b"", "the Range completed with bytes unlike the verified file")
        self.assertEqual((progress.get("status"), sha(progress.get("body", b""))), (200, sha(data)))
        r = self.g("GET", path, {"Range": "bytes=%d-%d" % (a, b)})
        self.assertEqual((r.status, r.complete, r.body), (206, True, data[a:b + 1]))


    def test_parallel_chunked_download_of_a_cold_file(self):
        """hf_transfer-like: 8 clients each ask a 512 KiB chunk of a cold file at once.  Every
        chunk is right and complete, regions stay within their bound, and the upstream bytes
        within the file plus the regions."""
        data = FILES[PLAIN]["big.bin"]
        path = resolve_path(PLAIN, "big.bin")
        HUB.faults.hosts = {"cdn"}
        HUB.faults.slow_bps = len(data) / 3.0
        step = len(data) // 8

        def chunk(i):
            a, b = i * step, (i + 1) * step - 1
            return i, self.g("GET", path, {"Range": "bytes=%d-%d" % (a, b)})

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(chunk, range(8)))
        for i, r in results:
            self.assertEqual((r.status, r.complete), (206, True), "chunk %d: %r" % (i, r))
            self.assertEqual(sha(r.body), sha(data[i * step:(i + 1) * step]), "chunk %d" % i)
        regions = self.gw.metrics()["hubgate_upstream_regions_first_total"]
        self.assertLessEqual(regions, 8)
        self.assertEqual(HUB.counters["cdn_get"], 1 + regions, "one transfer and one GET per region")
        self.assertLessEqual(HUB.counters["cdn_bytes"], len(data) + regions * step + 65536)
        r = self.g("GET", path)                             # and the file is cached whole
        self.assertEqual((r.status, sha(r.body)), (200, sha(data)))


class TestRangeFirstScanning(TestRangeFirst):
    """The same with the scanner blocking: a region is fetched while the scanner's gate is still
    closed and served once the body's head passed it."""
    gw_args = ("--scan", "block")


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

class TestFaults(GatewayCase):
    def test_reset_healed_with_range(self):
        for repo, p, host, mode in ((PLAIN, "big.bin", "cdn", "close"),
                                    (PLAIN, "model.safetensors", "cdn", "rst"),
                                    (PLAIN, "sub/deep/leaf.txt", "hub", "close"),
                                    (XET, "model.safetensors", "cas", "close")):
            with self.subTest(repo=repo, path=p, host=host, mode=mode):
                HUB.reset_counters()
                HUB.faults.hosts = {host}
                HUB.faults.reset_mode = mode
                HUB.faults.reset_after = 300 if host == "hub" else 200_000
                r = self.g("GET", resolve_path(repo, p))
                self.assertEqual(HUB.counters["fault_reset"], 1, "the fault did not fire")
                self.assertEqual((r.status, r.complete), (200, True), repr(r))
                self.assertEqual(sha(r.body), sha(FILES[repo][p]))
                if host == "cdn":
                    ranged = [e for e in HUB.requests if e.host == "cdn" and e.method == "GET"
                              and re.fullmatch(r"bytes=[1-9]\d*-\d*", e.headers.get("range", ""))]
                    self.assertTrue(ranged, "the gateway did not resume with Range: %r"
                                    % [(e.path[:40], e.headers.get("range")) for e in HUB.requests if e.host == "cdn"])

    def test_429_retry_after(self):
        for repo, p, host in ((PLAIN, "w/pytorch_model.bin", "cdn"), (PLAIN, "README.md", "hub"),
                              (XET, "w/pytorch_model.bin", "cas")):
            with self.subTest(host=host, path=p):
                HUB.reset_counters()
                HUB.faults.hosts = {host}
                HUB.faults.retry_after = 1
                HUB.faults.status_429 = 1
                t0 = time.monotonic()
                r = self.g("GET", resolve_path(repo, p))
                took = time.monotonic() - t0
                self.assertEqual(HUB.counters["fault_429"], 1)
                self.assertEqual((r.status, r.complete), (200, True), repr(r))
                self.assertEqual(sha(r.body), sha(FILES[repo][p]))
                self.assertLess(took, 15)

    def test_corruption_never_delivered(self):
        for repo, p, host in ((PLAIN, "w/pytorch_model.bin", "cdn"), (PLAIN, "sub/deep/leaf.txt", "hub"),
                              (XET, "w/pytorch_model.bin", "cas")):
            data = FILES[repo][p]
            with self.subTest(repo=repo, path=p, host=host):
                HUB.faults.hosts = {host}
                HUB.faults.corrupt = True
                for attempt in (1, 2):      # nothing is kept: the second attempt fetches again
                    HUB.reset_counters()
                    t0 = time.monotonic()
                    r = self.g("GET", resolve_path(repo, p), timeout=20)
                    took = time.monotonic() - t0
                    self.assertLess(took, 10, "attempt %d: the failed download left the client hanging for "
                                    "%.1f s (got %r) instead of closing the connection" % (attempt, took, r))
                    if attempt == 1:
                        self.assertGreater(HUB.counters["fault_corrupt"], 0, "no corrupt body was sent")
                    delivered = r.status in (200, 206) and r.complete
                    self.assertFalse(delivered and sha(r.body) != sha(data),
                                     "attempt %d: corrupt bytes delivered as a complete %d" % (attempt, r.status))
                    if host != "cas":       # the CDN/resolve body is the only source: no good copy
                        self.assertFalse(delivered, "attempt %d: a complete %d from corrupt bytes" % (attempt, r.status))
                    if r.status not in (200, 206):
                        self.assertIn(r.status, (502, 503, 504), repr(r))
                        self.assertTrue(r.h("X-Error-Message"))
                    elif not delivered:
                        self.assertLess(len(r.body), len(data), "cut short: fewer bytes than Content-Length")
                HUB.faults.corrupt = False
                HUB.reset_counters()
                h = py_head(self.gw.port, resolve_path(repo, p))
                self.assertIsNone(h.h("X-Xet-Hash"), "a corrupt download was stored")
                self.get_ok(repo, p)
                self.assertGreater(HUB.counters["cdn_bytes"] + HUB.counters["xorb_bytes"] + HUB.counters["resolve_bytes"],
                                   0, "the good download must come from upstream (nothing kept)")

    def test_range_during_a_download_waits_for_the_verdict(self):
        """A Range inside bytes that already arrived is still unverified (sha256 covers the
        whole file): its last byte waits for the verdict, and a corrupt transfer aborts it."""
        data = FILES[PLAIN]["big.bin"]
        path = resolve_path(PLAIN, "big.bin")
        HUB.faults.hosts = {"cdn"}
        HUB.faults.corrupt = True                      # one byte at the middle of the body
        HUB.faults.slow_bps = len(data) / 2.0          # about 2 s upstream
        first = {}
        th = threading.Thread(target=lambda: first.update(r=self.g("GET", path)))
        th.start()
        time.sleep(0.8)                                # the first bytes are in, the middle is not
        t0 = time.monotonic()
        r = self.g("GET", path, {"Range": "bytes=0-99"})
        took = time.monotonic() - t0
        th.join(60)
        self.assertGreater(HUB.counters["fault_corrupt"], 0, "no corrupt body was sent")
        self.assertFalse(r.status == 206 and r.complete,
                         "a Range of unverified bytes completed (%.2f s): %r" % (took, r))
        self.assertFalse(first["r"].complete and first["r"].status == 200, "corrupt bytes delivered")
        self.assertEqual(HUB.counters["cdn_get"], 1, "the Range started a download of its own")
        # without the fault the same Range completes, after the verdict
        HUB.faults.clear()
        HUB.reset_counters()
        r = self.g("GET", path, {"Range": "bytes=0-99"})
        self.assertEqual((r.status, r.complete, r.body), (206, True, data[:100]))


class TestStop(GatewayCase):
    def stop_quickly(self, gw):
        """SIGTERM: the gateway must exit cleanly (0) within 5 s, whatever upstream does."""
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0)
        self.assertLess(took, 5, "stopping waited %.1f s for the upstream" % took)
        gw.proc.stdout.close()
        gw.log.close()
        os.unlink(gw.log.name)

    def test_stop_does_not_wait_for_a_stalled_upstream(self):
        """SIGTERM while a download waits out a long Retry-After: the gateway stops at once
        (cleanly, exit 0), not after the upstream's timeouts."""
        gw = self.start_gateway()
        HUB.faults.status_429 = 10
        HUB.faults.retry_after = 30
        th = threading.Thread(target=lambda: request(gw.port, "GET", resolve_path(PLAIN, "big.bin"), None, None, 60),
                              daemon=True)
        th.start()
        deadline = time.monotonic() + 10
        while HUB.counters["fault_429"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(HUB.counters["fault_429"], 0, "the download never reached the upstream")
        self.stop_quickly(gw)
        th.join(10)

    def test_stop_during_a_region_fetched_first(self):
        """SIGTERM while both the transfer and a region fetched first are streaming from a slow
        upstream: the gateway stops at once and cleanly."""
        gw = self.start_gateway()
        data = FILES[PLAIN]["big.bin"]
        path = resolve_path(PLAIN, "big.bin")
        HUB.faults.hosts = {"cdn"}
        HUB.faults.slow_bps = len(data) / 20.0           # 20 s for the file
        a = len(data) - 200_000
        got = {}

        def ranged():
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
            try:
                c.request("GET", path, headers={"Range": "bytes=%d-%d" % (a, a + 99_999)})
                r = c.getresponse()
                got["first"] = r.read(1000)
                r.read()
            except (OSError, http.client.HTTPException):
                pass
            finally:
                c.close()

        th = threading.Thread(target=ranged, daemon=True)
        th.start()
        deadline = time.monotonic() + 10
        while "first" not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(got.get("first"), data[a:a + 1000], "the region did not stream")
        self.assertEqual(gw.metrics()["hubgate_upstream_regions_first_total"], 1)
        self.stop_quickly(gw)
        th.join(10)


class TestEvict(GatewayCase):
    """hubgate gc --evict-upstream-to: files fetched from upstream go, least recently used first,
    until the store is small enough; files of local repos stay; an evicted file is fetched again."""

    LOCAL = "local/model"

    def census(self, data):
        p = harness.run("verify", "--data", data, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-2000:])
        num = lambda rx: int(re.search(rx, p.stdout, re.M).group(1))
        return {"contents": num(r"^contents (\d+)"), "orphans": num(r"^orphan files (\d+)$"),
                "stored": num(r"stored bytes (\d+)$")}

    def evict(self, data, size):
        p = harness.run("gc", "--data", data, "--evict-upstream-to", size, check=False)
        print("\n   ", p.stdout.strip().replace("\n", " | "), end="")
        m = re.search(r"^evicted (\d+) upstream files \((\d+) bytes\) and (\d+) xorbs", p.stdout, re.M)
        return p, (int(m.group(1)), int(m.group(2))) if m else None

    def stop(self):
        self.stop_gateway(self.gw)
        self.gw = None

    def start(self, data):
        self.gw = harness.Server(data, "--upstream", HUB.url).__enter__()

    def tearDown(self):
        HUB.faults.clear()
        if self.gw:
            self.stop_gateway(self.gw)

    def test_evict_oldest_upstream_files_keep_local_ones(self):
        data = self.gw.data
        local = {"weights.bin": det(51, 2 * MiB), "README.md": b"local model\n"}
        src = os.path.join(TMP, "evict-src")
        os.makedirs(src)
        for name, b in local.items():
            with open(os.path.join(src, name), "wb") as f:
                f.write(b)
        harness.import_dir(data, src, self.LOCAL)
        local_only = self.census(data)
        for repo, path in ((PLAIN, "big.bin"), (XET, "model.safetensors")):   # least recent first
            self.get_ok(repo, path)
            self.assertTrue(self.wait_xet(repo, path).h("X-Xet-Hash"), "%s was not stored" % path)
        full = self.census(data)
        self.assertEqual(full["contents"], local_only["contents"] + 2)

        p, _ = self.evict(data, "0")
        self.assertEqual(p.returncode, 1, "eviction ran beside hubgate serve")
        self.assertIn("hubgate serve is using the store", p.stderr)
        self.assertEqual(self.census(data)["contents"], full["contents"])

        self.stop()
        p, n = self.evict(data, str(full["stored"] - 1))          # just under: the least recent goes
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(n, (1, len(FILES[PLAIN]["big.bin"])), p.stdout)
        one = self.census(data)
        self.assertEqual((one["contents"], one["orphans"]), (full["contents"] - 1, 0))
        self.assertLessEqual(one["stored"], full["stored"] - len(FILES[PLAIN]["big.bin"]))
        h = sha(FILES[PLAIN]["big.bin"])
        self.assertFalse(os.path.exists(os.path.join(data, "files", h[:2], h)), "its plain copy stayed")

        self.start(data)
        HUB.faults.down = True
        self.get_ok(XET, "model.safetensors")                     # kept: served offline
        for name, b in local.items():
            r = self.g("GET", resolve_path(self.LOCAL, name))
            self.assertEqual((r.status, sha(r.body)), (200, sha(b)), name)
        r = self.g("GET", resolve_path(PLAIN, "big.bin"))
        self.assertNotEqual(r.status, 200, "an evicted file was served with the upstream down")
        HUB.faults.down = False
        HUB.reset_counters()
        self.get_ok(PLAIN, "big.bin")                             # fetched again
        self.assertEqual(HUB.counters["cdn_get"], 1)
        self.wait_xet(PLAIN, "big.bin")

        self.stop()
        p, n = self.evict(data, "0")                              # every upstream file
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(n[0], 2, p.stdout)
        left = self.census(data)
        self.assertEqual(left, dict(local_only, orphans=0))
        self.start(data)
        HUB.faults.down = True
        for name, b in local.items():
            r = self.g("GET", resolve_path(self.LOCAL, name))
            self.assertEqual((r.status, sha(r.body)), (200, sha(b)), name)

    def test_least_recently_used_goes_first(self):
        """A (downloaded first) is served again later; B (downloaded after A) is not: B goes."""
        data = self.gw.data
        a, b = (PLAIN, "big.bin"), (XET, "model.safetensors")
        for repo, path in (a, b):
            self.get_ok(repo, path)
            self.assertTrue(self.wait_xet(repo, path).h("X-Xet-Hash"), "%s was not stored" % path)
        full = self.census(data)
        time.sleep(1.1)               # uses are recorded in seconds
        self.stop()
        self.start(data)              # a new process: its first use of A is recorded
        self.get_ok(*a)
        self.stop()
        p, n = self.evict(data, str(full["stored"] - 1))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(n, (1, len(FILES[b[0]][b[1]])), "not the least recently used: " + p.stdout)
        self.start(data)
        HUB.faults.down = True
        self.get_ok(*a)               # kept: served offline
        r = self.g("GET", resolve_path(*b))
        self.assertNotEqual(r.status, 200)

    def test_serve_does_not_start_during_an_eviction(self):
        data = self.gw.data
        self.stop()
        with open(os.path.join(data, "serve.lock"), "a+") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)                        # what an eviction holds
            p = subprocess.run([harness.HUBGATE, "serve", "--data", data, "--listen", "127.0.0.1:0",
                                "--no-upstream"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("hubgate gc is evicting from this store", p.stderr)
        self.start(data)


class TestUpstreamDown(GatewayCase):
    gw_args = ("--ref-ttl", "1")

    def test_warm_snapshot_served_offline_and_uncached_fails_fast(self):
        repo, commit = PLAIN, COMMITS[PLAIN][-1]
        api = ["/api/models/%s" % repo, "/api/models/%s/revision/main" % repo,
               "/api/models/%s/revision/%s" % (repo, commit),
               "/api/models/%s/tree/%s?recursive=true" % (repo, commit)]
        warm = {}
        # snapshot_download: revision, then every page of the tree at the commit
        for p in api:
            r = self.g("GET", p)
            self.assertEqual(r.status, 200, "%s: %r" % (p, r))
            warm[p] = r
            link = dict((rel, u) for u, rel in LINK_RE.findall(r.h("Link") or ""))
            while "next" in link:
                u = urllib.parse.urlsplit(link["next"])
                nxt = u.path + "?" + u.query
                r = self.g("GET", nxt)
                self.assertEqual(r.status, 200)
                warm[nxt] = r
                link = dict((rel, u) for u, rel in LINK_RE.findall(r.h("Link") or ""))
        heads = {}
        for p in FILES[repo]:
            for rev in ("main", commit):
                heads[(p, rev)] = py_head(self.gw.port, resolve_path(repo, p, rev))
            self.get_ok(repo, p)
        time.sleep(1.2)                          # the branch answer is now past --ref-ttl
        HUB.faults.down = True
        slow = []

        def timed(fn, *a):
            t0 = time.monotonic()
            r = fn(*a)
            slow.append((time.monotonic() - t0, a[-1] if isinstance(a[-1], str) else a[1]))
            return r
        for p, w in warm.items():
            with self.subTest(path=p):
                r = timed(self.g, "GET", p)
                self.assertEqual(r.status, 200, "%s offline: %r" % (p, r))
                self.assertEqual(r.json(), w.json())
        for (p, rev), w in heads.items():
            with self.subTest(head=p, rev=rev):
                h = timed(py_head, self.gw.port, resolve_path(repo, p, rev))
                self.assertEqual(h.status, 200, "HEAD %s@%s offline: %r" % (p, rev, h))
                for k in ("X-Repo-Commit", "ETag", "X-Linked-Size", "X-Linked-Etag", "Content-Length"):
                    self.assertEqual(h.h(k), w.h(k), k)
                r = timed(self.g, "GET", resolve_path(repo, p, rev))
                self.assertEqual((r.status, r.complete), (200, True), "GET %s@%s offline: %r" % (p, rev, r))
                self.assertEqual(sha(r.body), sha(FILES[repo][p]))
        self.assertGreater(HUB.counters["fault_down"], 0, "the gateway never tried the upstream")
        slow.sort(reverse=True)
        print("\n  offline, warm: %d requests, %.1f s in all, slowest %.2f s (%s)"
              % (len(slow), sum(t for t, _ in slow), slow[0][0], slow[0][1]), end="")
        for p in (resolve_path(XET, "config.json"), "/api/models/%s" % XET,
                  resolve_path(repo, "never-fetched.txt", commit)):
            with self.subTest(uncached=p):
                t0 = time.monotonic()
                r = self.g("GET", p, timeout=30)
                took = time.monotonic() - t0
                self.assertIn(r.status, (502, 504), repr(r))
                self.assertTrue(r.h("X-Error-Message"), repr(r.headers))
                self.assertLess(took, 15, "an uncached request must fail fast with the upstream down")


# ---------------------------------------------------------------------------------------------
# Gated and private repos
# ---------------------------------------------------------------------------------------------

class TestConnections(GatewayCase):
    def test_upstream_connections_are_reused(self):
        """Metadata calls reuse the job threads' kept-alive connections (against huggingface.co
        each new one would cost a TCP and a TLS handshake)."""
        paths = [resolve_path(PLAIN, p, rev) for rev in ["main"] + COMMITS[PLAIN] for p in sorted(FILES[PLAIN])
                 if HUB.file(PLAIN, p, rev)]
        HUB.reset_counters()
        for p in paths:                       # one upstream HEAD each, on whichever job thread
            r = self.g("HEAD", p, {"Accept-Encoding": "identity"})
            self.assertEqual(r.status, 200, "%s: %r" % (p, r))
        c = HUB.counters
        self.assertGreaterEqual(c["hub_requests"], 24, dict(c))
        # 16 job threads: at most one connection each, however many calls they make
        self.assertLessEqual(c["hub_connections"], 16, "upstream connections are not reused: %r" % dict(c))


class TestIsolation(GatewayCase):
    def test_hubgate_tokens_never_go_upstream(self):
        """A token this gateway issued (for its private local repos) is a secret of the site:
        a client that sends it for an upstream repo is anonymous upstream."""
        own = "hf_hg_" + "0123456789abcdef" * 2 + "01234567"
        HUB.requests.clear()
        for p in ("config.json", "model.safetensors"):
            self.get_ok(PLAIN, p, own)
        r = self.g("GET", "/api/models/%s" % PLAIN, auth(own))
        self.assertEqual(r.status, 200, repr(r))
        seen = [q for q in list(HUB.requests) if own in json.dumps(q.headers)]
        self.assertEqual(seen, [], "a hubgate token reached the upstream")

    def denied(self, repo, expect, secret_bodies):
        """Every route of repo for no token and hf_bad: never 2xx, never the bytes."""
        paths = [("GET", "/api/models/%s" % repo, None), ("GET", "/api/models/%s/revision/main" % repo, None),
                 ("GET", "/api/models/%s/tree/main?recursive=true" % repo, None),
                 ("POST", "/api/models/%s/paths-info/main" % repo, "paths=secret.txt&expand=true"),
                 ("GET", "/api/models/%s/xet-read-token/main" % repo, None)]
        for p in FILES[repo]:
            paths += [("GET", resolve_path(repo, p), None), ("HEAD", resolve_path(repo, p), None),
                      ("GET", resolve_path(repo, p, COMMITS[repo][-1]), None)]
        ids = set()
        for p in FILES[repo]:
            f = HUB.file(repo, p)
            ids |= {f.sha256, f.blob_oid, f.oid}
        for tok in (None, BAD, "hf_nobody"):
            for method, p, body in paths:
                with self.subTest(token=tok, method=method, path=p):
                    hs = {"Accept-Encoding": "identity", **auth(tok)}
                    if body:
                        hs["Content-Type"] = "application/x-www-form-urlencoded"
                    r = self.g(method, p, hs, body)
                    self.assertFalse(200 <= r.status < 300, "%s %s token=%s: %r" % (method, p, tok, r))
                    for s in secret_bodies:
                        self.assertNotIn(s, r.body)
                    for k in ("X-Linked-Etag", "X-Linked-Size", "X-Xet-Hash", "Link"):
                        self.assertIsNone(r.h(k), "%s %s token=%s: %s leaked" % (method, p, tok, k))
                    for oid in ids:
                        self.assertNotIn(oid, json.dumps(r.headers), "a file id leaked in the headers")
                    want = expect[tok is not None]
                    self.assertEqual((r.status, r.h("X-Error-Code")), want, "%s %s token=%s" % (method, p, tok))

    def allowed(self, repo, token):
        for p in FILES[repo]:
            self.get_ok(repo, p, token)
        r = self.g("GET", "/api/models/%s" % repo, auth(token))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["sha"], COMMITS[repo][-1])
        r = self.g("GET", "/api/models/%s/tree/main?recursive=true" % repo, auth(token))
        self.assertEqual(r.status, 200, repr(r))

    def test_gated_and_private_warm_cache_not_shared(self):
        gated_secrets = [FILES[GATED]["secret.txt"], FILES[GATED]["weights.safetensors"][:4096]]
        priv_secrets = [FILES[PRIVATE]["secret.txt"], FILES[PRIVATE]["w.bin"][:4096]]
        self.allowed(GATED, GOOD)
        self.allowed(PRIVATE, GOOD)
        h = self.wait_xet(GATED, "weights.safetensors", GOOD)
        self.assertEqual(sha(self.xet_read(h, GOOD)), sha(FILES[GATED]["weights.safetensors"]))
        self.denied(GATED, {False: (401, "GatedRepo"), True: (403, "GatedRepo")}, gated_secrets)
        self.denied(PRIVATE, {False: (401, "RepoNotFound"), True: (404, "RepoNotFound")}, priv_secrets)
        # A Xet token of a public repo does not open the gated file's reconstruction.
        self.get_ok(XET, "config.json")
        tok = self.g("GET", "/api/models/%s/xet-read-token/main" % XET).json()["accessToken"]
        r = self.g("GET", "/v2/reconstructions/" + h.h("X-Xet-Hash"), {"Authorization": "Bearer " + tok})
        self.assertIn(r.status, (401, 403, 404), repr(r))
        # hf_good keeps working, from the cache
        self.allowed(GATED, GOOD)
        self.allowed(PRIVATE, GOOD)
        # public repos: no token and any hf_ token
        for tok in (None, GOOD, BAD, "hf_random"):
            with self.subTest(public_token=tok):
                self.get_ok(PLAIN, "config.json", tok)
                self.get_ok(PLAIN, "w/pytorch_model.bin", tok)
                r = self.g("GET", "/api/models/%s" % PLAIN, auth(tok))
                self.assertEqual(r.status, 200)
        # upstream down: still nothing for anyone but hf_good
        HUB.faults.down = True
        self.denied_offline(GATED, gated_secrets)
        self.denied_offline(PRIVATE, priv_secrets)
        self.allowed(GATED, GOOD)   # answers to hf_good are reused for --auth-ttl (300 s)

    def test_xet_token_of_a_user_checked_upstream_lives_no_longer_than_the_check(self):
        """The CAS never sees the client's HF token, so a Xet token for a gated repo cannot be
        checked upstream again: it lives --auth-ttl at most, then the client asks again."""
        gw = self.start_gateway("--auth-ttl", "20")
        try:
            def token(repo, tok):
                r = request(gw.port, "GET", "/api/models/%s/xet-read-token/main" % repo, auth(tok), None)
                self.assertEqual(r.status, 200, repr(r))
                exp = r.json()["exp"]
                self.assertEqual(r.h("X-Xet-Token-Expiration"), str(exp))
                return exp - time.time()
            self.assertLessEqual(token(GATED, GOOD), 21)
            self.assertGreater(token(GATED, GOOD), 10)
            self.assertGreater(token(XET, None), 3000, "an anonymous token for a public repo")
        finally:
            self.stop_gateway(gw)

    def denied_offline(self, repo, secrets):
        """With the upstream down, a few routes (each costs the gateway's upstream retries)."""
        big = next(p for p in FILES[repo] if HUB.file(repo, p).lfs or p.endswith(".bin"))
        for tok in (None, BAD):
            for method, p in (("GET", "/api/models/%s/tree/main?recursive=true" % repo),
                              ("GET", resolve_path(repo, "secret.txt")), ("HEAD", resolve_path(repo, big)),
                              ("GET", resolve_path(repo, big, COMMITS[repo][-1]))):
                with self.subTest(offline=True, token=tok, method=method, path=p):
                    t0 = time.monotonic()
                    r = self.g(method, p, {"Accept-Encoding": "identity", **auth(tok)})
                    self.assertLess(time.monotonic() - t0, 15)
                    self.assertFalse(200 <= r.status < 300, "%s %s token=%s offline: %r" % (method, p, tok, r))
                    for sec in secrets:
                        self.assertNotIn(sec, r.body)
                    for k in ("X-Linked-Etag", "X-Linked-Size", "X-Xet-Hash"):
                        self.assertIsNone(r.h(k), "%s leaked offline" % k)


if __name__ == "__main__":
    unittest.main()
