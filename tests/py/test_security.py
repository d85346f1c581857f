"""Supply-chain security of `hubgate serve`: private local repos behind hubgate access tokens, the
serving policy (--policy) and the audit log (--audit-log).

Python standard library only.  Run:
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_security

setUpModule imports public and private repos into one store and issues tokens with the real
`hubgate token create`; each TestCase class starts its own `hubgate serve` (PolicyTests one per
test, each with its own policy file).  Requests are plain http.client, as huggingface_hub sends
them (Authorization: Bearer, HEAD with Accept-Encoding: identity, form-encoded paths-info).
"""
import hashlib
import http.client
import json
import os
import re
import signal
import threading
import time
import unittest

import harness

PUB = "acme/public-model"
PUB_DS = "acme/open-data"
OTHER_PUB = "initech/tools"
PRIV = "acme/secret-model"
PRIV_DS = "acme/secret-data"
PRIV_OTHER = "globex/hidden"
MISSING = "acme/no-such-repo"

TOKEN_RE = re.compile(r"^hf_hg_[0-9a-f]{40}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def det(seed, n):
    return hashlib.shake_256(seed.encode()).digest(n)


class FX:
    tmp = data = None
    commits = {}
    tokens = {}
    files = {}


write_tree = harness.write_tree


def make_token(*args):
    p = harness.run("token", "create", "--data", FX.data, *args)
    tok = p.stdout.strip()
    assert TOKEN_RE.match(tok), p.stdout
    return tok


def setUpModule():
    FX.tmp = harness.tempdir("hubgate-sec-")
    FX.data = os.path.join(FX.tmp, "data")
    pub1 = {"README.md": b"# public model\n", "config.json": b'{"v": 1}\n',
            "model.safetensors": det("pub-st", 300_000), "pytorch_model.bin": det("pub-bin", 120_000),
            "notes.txt": b"plain notes\n"}
    pub2 = dict(pub1, **{"config.json": b'{"v": 2, "second": true}\n'})
    FX.files = {
        PUB: pub2, PUB + "@1": pub1,
        PUB_DS: {"a.csv": b"x,y\n1,2\n"},
        OTHER_PUB: {"tool.txt": b"a public tool\n", "w.pkl": det("other-pkl", 5000)},
        PRIV: {"secret.txt": b"top secret\n", "secret.safetensors": det("secret", 60_000)},
        PRIV_DS: {"train.csv": b"secret,data\n"},
        PRIV_OTHER: {"data.txt": b"globex secret\n"},
    }
    imports = [(PUB + "@1", PUB, []), (PUB, PUB, []), (PUB_DS, PUB_DS, ["--type", "dataset"]),
               (OTHER_PUB, OTHER_PUB, []), (PRIV, PRIV, ["--private"]),
               (PRIV_DS, PRIV_DS, ["--private", "--type", "dataset"]), (PRIV_OTHER, PRIV_OTHER, ["--private"])]
    for key, repo, extra in imports:
        src = os.path.join(FX.tmp, "src", key.replace("/", "_"))
        write_tree(src, FX.files[key])
        FX.commits[key] = harness.import_dir(FX.data, src, repo, *extra)
        assert HEX40.match(FX.commits[key]), FX.commits[key]
    FX.tokens = {
        "repo": make_token("--name", "repo-grant", "--grant", PRIV),
        "org": make_token("--name", "org-grant", "--grant", "acme"),
        "orgstar": make_token("--grant", "acme/*"),
        "ds": make_token("--grant", "datasets/acme/*"),
        "all": make_token("--name", "everything", "--grant", "*"),
        "none": make_token("--name", "no-grants"),
        "globex": make_token("--grant", PRIV_OTHER),
    }


def tearDownModule():
    if FX.tmp:
        harness.rmtree(FX.tmp)


def fp(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


Resp = harness.Resp


class Case(unittest.TestCase):
    port = None
    maxDiff = 3000

    def req(self, method, path, headers=None, body=None, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=30)
        try:
            h = dict(headers or {})
            if method == "HEAD":
                h.setdefault("Accept-Encoding", "identity")
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            c.close()

    def get(self, path, headers=None, **kw):
        return self.req("GET", path, headers, **kw)

    @staticmethod
    def auth(token):
        return {"Authorization": "Bearer " + token} if token else {}

    def routes(self, repo, path, types="models", prefix=""):
        """(method, url, body, extra headers) for every route of a repo."""
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        return [
            ("HEAD", "/%s%s/resolve/main/%s" % (prefix, repo, path), None, {}),
            ("GET", "/%s%s/resolve/main/%s" % (prefix, repo, path), None, {}),
            ("GET", "/%s%s/raw/main/%s" % (prefix, repo, path), None, {}),
            ("GET", "/api/%s/%s" % (types, repo), None, {}),
            ("GET", "/api/%s/%s/revision/main" % (types, repo), None, {}),
            ("GET", "/api/%s/%s/tree/main" % (types, repo), None, {}),
            ("POST", "/api/%s/%s/paths-info/main" % (types, repo), "paths=%s&expand=false" % path, form),
            ("GET", "/api/%s/%s/refs" % (types, repo), None, {}),
            ("GET", "/api/%s/%s/commits/main" % (types, repo), None, {}),
            ("GET", "/api/%s/%s/xet-read-token/main" % (types, repo), None, {}),
        ]

    def assertError(self, r, status, code, msg=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.h("X-Error-Code"), code, r)
        if msg is not None:
            self.assertEqual(r.h("X-Error-Message"), msg, r)

    def xet_token(self, repo, token=None, rev="main", types="models"):
        r = self.get("/api/%s/%s/xet-read-token/%s" % (types, repo, rev), self.auth(token))
        self.assertEqual(r.status, 200, r)
        return r.json()["accessToken"]

    def xet_hash(self, repo, path, token=None, rev="main"):
        r = self.get("/api/models/%s/tree/%s" % (repo, rev), self.auth(token))
        self.assertEqual(r.status, 200, r)
        return {e["path"]: e for e in r.json()}[path]["xetHash"]


class ServerCase(Case):
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(FX.data, *cls.extra).__enter__()
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        alive = cls.srv.proc.poll() is None
        cls.srv.__exit__(None, None, None)
        if not alive:
            raise AssertionError("hubgate serve died during %s" % cls.__name__)


# ---------------------------------------------------------------------------------------------
# Tokens from the command line
# ---------------------------------------------------------------------------------------------

class TokenCliTests(unittest.TestCase):
    def test_list_shows_fingerprints_never_tokens(self):
        out = harness.run("token", "list", "--data", FX.data).stdout
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("ID"), out)
        for name, tok in FX.tokens.items():
            self.assertNotIn(tok, out)
            self.assertNotIn(tok[6:], out)
            self.assertIn(fp(tok), out, name)
        row = [ln for ln in lines if " repo-grant " in ln][0].split()
        self.assertEqual(row[2], fp(FX.tokens["repo"]))
        self.assertEqual(row[3], "active")
        self.assertEqual(row[-1], PRIV)
        row = [ln for ln in lines if " org-grant " in ln][0].split()
        self.assertEqual(row[-1], "acme/*")  # normalised
        with open(os.path.join(FX.data, "index.sqlite"), "rb") as f:
            self.assertNotIn(FX.tokens["repo"].encode(), f.read())

    def test_create_output_and_errors(self):
        p = harness.run("token", "create", "--data", FX.data, "--grant", "datasets/acme", "--expires", "30")
        self.assertRegex(p.stdout, r"^hf_hg_[0-9a-f]{40}\n$")
        self.assertIn("fingerprint " + fp(p.stdout.strip()), p.stderr)
        self.assertIn("datasets/acme/*", p.stderr)
        for bad in (["--grant", "a/b/c/d"], ["--grant", "acme/na*me"], ["--grant", ""], ["--expires", "0"],
                    ["--expires", "soon"], ["--name", "123"], ["--bogus", "x"]):
            with self.subTest(bad=bad):
                p = harness.run("token", "create", "--data", FX.data, *bad, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(p.stdout, "")
        p = harness.run("token", "create", "--data", FX.data, "--name", "repo-grant", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists", p.stderr)
        self.assertEqual(p.stdout, "")
        p = harness.run("token", "revoke", "--data", FX.data, "no-such-token", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(harness.run("token", "frobnicate", "--data", FX.data, check=False).returncode, 2)


# ---------------------------------------------------------------------------------------------
# Private repos
# ---------------------------------------------------------------------------------------------

class PrivateRepoTests(ServerCase):
    def test_no_token_is_401_on_every_route(self):
        for m, url, body, h in self.routes(PRIV, "secret.txt") + self.routes(PRIV_DS, "train.csv", "datasets",
                                                                             "datasets/"):
            with self.subTest(method=m, url=url):
                r = self.req(m, url, h, body)
                self.assertError(r, 401, "RepoNotFound", "Invalid username or password.")
                self.assertNotIn(b"secret", r.body)

    def test_unusable_tokens_are_404_like_a_missing_repo(self):
        bad = {"hf token": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "garbage": "garbage",
               "no grants": FX.tokens["none"], "other repo": FX.tokens["globex"],
               "datasets only": FX.tokens["ds"], "unknown hubgate-shaped": "hf_hg_" + "0" * 40}
        for label, tok in bad.items():
            for (m, url, body, h), (_, murl, _, _) in zip(self.routes(PRIV, "secret.txt"),
                                                          self.routes(MISSING, "secret.txt")):
                with self.subTest(token=label, method=m, url=url):
                    r = self.req(m, url, dict(h, **self.auth(tok)), body)
                    self.assertError(r, 404, "RepoNotFound")
                    missing = self.req(m, murl, dict(h, **self.auth(tok)), body)
                    self.assertEqual((r.status, r.h("X-Error-Code"), r.h("X-Error-Message"), r.body),
                                     (missing.status, missing.h("X-Error-Code"), missing.h("X-Error-Message"),
                                      missing.body))
        r = self.get("/api/models/" + PRIV, {"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertError(r, 404, "RepoNotFound")

    def test_granted_tokens_read_every_route(self):
        for label in ("repo", "org", "orgstar", "all"):
            tok = FX.tokens[label]
            for m, url, body, h in self.routes(PRIV, "secret.txt"):
                with self.subTest(token=label, method=m, url=url):
                    r = self.req(m, url, dict(h, **self.auth(tok)), body)
                    self.assertEqual(r.status, 200, r)
                    if "/resolve/" in url and m == "GET":
                        self.assertEqual(r.body, b"top secret\n")
                        self.assertEqual(r.h("X-Repo-Commit"), FX.commits[PRIV])
        info = self.get("/api/models/" + PRIV, self.auth(FX.tokens["repo"])).json()
        self.assertIs(info["private"], True)
        self.assertEqual(info["sha"], FX.commits[PRIV])

    def test_grants_by_type_and_org(self):
        ds = "/datasets/%s/resolve/main/train.csv" % PRIV_DS
        for label, want in (("ds", 200), ("org", 200), ("all", 200), ("repo", 404), ("globex", 404)):
            with self.subTest(token=label):
                self.assertEqual(self.get(ds, self.auth(FX.tokens[label])).status, want)
        other = "/%s/resolve/main/data.txt" % PRIV_OTHER
        for label, want in (("globex", 200), ("all", 200), ("org", 404), ("repo", 404)):
            with self.subTest(token=label):
                self.assertEqual(self.get(other, self.auth(FX.tokens[label])).status, want)

    def test_public_repos_serve_any_token(self):
        for tok in (None, "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "garbage", FX.tokens["none"],
                    FX.tokens["repo"]):
            with self.subTest(token=tok):
                r = self.get("/%s/resolve/main/config.json" % PUB, self.auth(tok))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, FX.files[PUB]["config.json"])
                self.assertEqual(self.get("/api/datasets/" + PUB_DS, self.auth(tok)).status, 200)

    def test_xet_path(self):
        tok = FX.tokens["org"]
        xh = self.xet_hash(PRIV, "secret.safetensors", tok)
        r = self.get("/api/models/%s/xet-read-token/main" % PRIV, self.auth(tok))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.h("X-Xet-Access-Token"), r.json()["accessToken"])
        priv_xet = r.json()["accessToken"]
        r = self.get("/v2/reconstructions/" + xh, self.auth(priv_xet))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["terms"])
        # A Xet token of a public repo cannot read the private repo's file.
        pub_xet = self.xet_token(PUB)
        for p in ("/v2/reconstructions/", "/v1/reconstructions/", "/reconstructions/", "/reconstruction/"):
            with self.subTest(path=p):
                r = self.get(p + xh, self.auth(pub_xet))
                self.assertEqual(r.status, 404, r)
                self.assertNotIn(b"xorbs/default", r.body)
        # Nor does a hubgate token presented directly to the CAS.
        self.assertEqual(self.get("/v2/reconstructions/" + xh, self.auth(tok)).status, 401)

    def test_revoke_takes_effect_at_once(self):
        tok = make_token("--name", "to-revoke", "--grant", "acme")
        url = "/%s/resolve/main/secret.txt" % PRIV
        self.assertEqual(self.get(url, self.auth(tok)).status, 200)
        out = harness.run("token", "revoke", "--data", FX.data, "to-revoke").stdout
        self.assertIn(fp(tok), out)
        self.assertNotIn(tok, out)
        self.assertError(self.get(url, self.auth(tok)), 404, "RepoNotFound")
        self.assertError(self.req("HEAD", url, self.auth(tok)), 404, "RepoNotFound")
        listing = harness.run("token", "list", "--data", FX.data).stdout
        self.assertEqual([ln.split()[3] for ln in listing.splitlines() if " to-revoke " in ln], ["revoked"])
        # by id as well
        tok2 = make_token("--grant", "acme")
        tid = [ln.split()[0] for ln in harness.run("token", "list", "--data", FX.data).stdout.splitlines()
               if fp(tok2) in ln][0]
        self.assertEqual(self.get(url, self.auth(tok2)).status, 200)
        harness.run("token", "revoke", "--data", FX.data, tid)
        self.assertEqual(self.get(url, self.auth(tok2)).status, 404)

    def test_revoke_ends_xet_access(self):
        """A Xet token and the xorb URLs it led to die with the hubgate token they came from."""
        tok = make_token("--name", "xet-revoke", "--grant", "acme")
        xh = self.xet_hash(PRIV, "secret.safetensors", tok)
        priv_xet = self.xet_token(PRIV, tok)
        r = self.get("/v2/reconstructions/" + xh, self.auth(priv_xet))
        self.assertEqual(r.status, 200, r)
        entry = next(iter(r.json()["xorbs"].values()))[0]
        self.assertIn("Token-Id=", entry["url"])
        b = entry["ranges"][0]["bytes"]
        xorb_path = entry["url"][entry["url"].index("/xorbs/"):]
        rng = {"Range": "bytes=%d-%d" % (b["start"], b["end"])}
        self.assertEqual(self.get(xorb_path, rng).status, 206)
        # The token id is signed into the URL: dropping it or changing it breaks the signature.
        dropped = re.sub(r"&Token-Id=[0-9]+", "", xorb_path)
        self.assertError(self.get(dropped, rng), 403, None, "Invalid xorb URL signature")
        other = re.sub(r"Token-Id=[0-9]+", "Token-Id=999999", xorb_path)
        self.assertError(self.get(other, rng), 403, None, "Invalid xorb URL signature")
        pub_xet = self.xet_token(PUB)
        pub_xh = self.xet_hash(PUB, "model.safetensors")
        r = self.get("/v2/reconstructions/" + pub_xh, self.auth(pub_xet))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("Token-Id=", json.dumps(r.json()))

        harness.run("token", "revoke", "--data", FX.data, "xet-revoke")
        for p in ("/v2/reconstructions/", "/v1/reconstructions/"):
            self.assertError(self.get(p + xh, self.auth(priv_xet)), 401, None,
                             "Missing, invalid or expired Xet access token")
        self.assertError(self.get(xorb_path, rng), 403, None, "Xorb URL of a revoked or expired access token")
        # Public repos' Xet tokens carry no hubgate token and go on working.
        self.assertEqual(self.get("/v2/reconstructions/" + pub_xh, self.auth(pub_xet)).status, 200)

    def test_expired_token(self):
        tok = make_token("--grant", "acme", "--expires", "0.00003")  # about 3 s
        url = "/api/models/" + PRIV
        t0 = time.time()
        r = self.get(url, self.auth(tok))
        if time.time() - t0 < 1.5:
            self.assertEqual(r.status, 200, r)
        time.sleep(4.2)
        self.assertError(self.get(url, self.auth(tok)), 404, "RepoNotFound")
        listing = harness.run("token", "list", "--data", FX.data).stdout
        self.assertEqual([ln.split()[3] for ln in listing.splitlines() if fp(tok) in ln], ["expired"])


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------

class PolicyTests(Case):
    def setUp(self):
        self.dir = harness.tempdir("hubgate-policy-")
        self.policy = os.path.join(self.dir, "policy.json")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.__exit__(None, None, None)
        harness.rmtree(self.dir)

    def write(self, policy):
        with open(self.policy, "w") as f:
            f.write(policy if isinstance(policy, str) else json.dumps(policy, indent=1))

    def serve(self, policy, *extra):
        self.write(policy)
        self.srv = harness.Server(FX.data, "--policy", self.policy, *extra).__enter__()
        self.port = self.srv.port

    def assertDenied(self, r, rule=None, text=None):
        self.assertError(r, 403, "PolicyDenied")
        msg = r.h("X-Error-Message")
        if r.body:
            self.assertEqual(json.loads(r.body), {"error": msg})
        if rule is not None:
            self.assertIn("policy rule %d" % rule, msg)
        if text is not None:
            self.assertIn(text, msg)

    def resolve(self, repo, path, rev="main", method="GET", prefix="", token=None):
        return self.req(method, "/%s%s/resolve/%s/%s" % (prefix, repo, rev, path), self.auth(token))

    def test_deny_by_repo_glob(self):
        self.serve({"rules": [{"action": "allow", "repo": "acme/open-*"},
                              {"action": "deny", "repo": "acme/*", "reason": "acme is embargoed"}]})
        for m, url, body, h in self.routes(PUB, "config.json"):
            with self.subTest(method=m, url=url):
                self.assertDenied(self.req(m, url, h, body), 2, "acme is embargoed (repo acme/*)")
        self.assertEqual(self.get("/api/datasets/" + PUB_DS).status, 200)
        self.assertEqual(self.resolve(PUB_DS, "a.csv", prefix="datasets/").status, 200)
        self.assertEqual(self.resolve(OTHER_PUB, "tool.txt").status, 200)

    def test_deny_by_org_and_type(self):
        self.serve({"rules": [{"action": "deny", "org": "initech"},
                              {"action": "deny", "type": "dataset", "reason": "no datasets"}]})
        self.assertDenied(self.resolve(OTHER_PUB, "tool.txt"), 1, "org initech")
        self.assertDenied(self.get("/api/models/" + OTHER_PUB), 1)
        self.assertDenied(self.resolve(PUB_DS, "a.csv", prefix="datasets/"), 2, "no datasets")
        self.assertDenied(self.get("/api/datasets/%s/tree/main" % PUB_DS), 2)
        self.assertEqual(self.resolve(PUB, "config.json").status, 200)

    def test_revision_pin(self):
        c1, c2 = FX.commits[PUB + "@1"], FX.commits[PUB]
        self.serve({"rules": [{"action": "allow", "repo": PUB, "revision": c1, "reason": "audited release"}]})
        r = self.resolve(PUB, "config.json", rev=c1)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, FX.files[PUB + "@1"]["config.json"])
        self.assertEqual(self.resolve(PUB, "config.json", rev=c1, method="HEAD").status, 200)
        self.assertEqual(self.get("/api/models/%s/revision/%s" % (PUB, c1)).status, 200)
        self.assertEqual(self.get("/api/models/%s/tree/%s" % (PUB, c1)).status, 200)
        self.assertEqual(self.get("/api/models/%s/refs" % PUB).status, 200)
        for rev in ("main", c2, c1[:12]):
            with self.subTest(rev=rev):
                self.assertDenied(self.resolve(PUB, "config.json", rev=rev), 1, "only revision " + c1)
                self.assertDenied(self.resolve(PUB, "config.json", rev=rev, method="HEAD"))
                self.assertDenied(self.get("/api/models/%s/revision/%s" % (PUB, rev)), 1)
        self.assertDenied(self.get("/api/models/" + PUB), 1)  # the default branch
        self.assertDenied(self.get("/api/models/%s/xet-read-token/main" % PUB), 1)
        # Xet: a token for the pinned commit works; one issued for it cannot stray
        xh = self.xet_hash(PUB, "model.safetensors", rev=c1)
        self.assertEqual(self.get("/v2/reconstructions/" + xh, self.auth(self.xet_token(PUB, rev=c1))).status, 200)
        self.assertEqual(self.resolve(OTHER_PUB, "tool.txt").status, 200)  # other repos unaffected

    def test_files_glob(self):
        self.serve({"rules": [{"action": "deny", "files": "*.bin"}]})
        self.assertDenied(self.resolve(PUB, "pytorch_model.bin"), 1, "files *.bin")
        self.assertDenied(self.resolve(PUB, "pytorch_model.bin", method="HEAD"), 1)
        self.assertDenied(self.req("GET", "/%s/raw/main/pytorch_model.bin" % PUB), 1)
        self.assertEqual(self.resolve(PUB, "config.json").status, 200)
        self.assertEqual(self.get("/api/models/%s/tree/main" % PUB).status, 200)  # listings are not files
        self.assertEqual(self.get("/api/models/" + PUB).status, 200)

    def test_formats_no_pickles(self):
        self.serve({"rules": [{"action": "deny", "formats": ["pickle"], "reason": "pickle files are not allowed"}]},
                   "--audit-log", os.path.join(self.dir, "audit.log"))
        for repo, path in ((PUB, "pytorch_model.bin"), (OTHER_PUB, "w.pkl")):
            with self.subTest(path=path):
                self.assertDenied(self.resolve(repo, path), 1, "pickle files are not allowed (formats pickle)")
        r = self.resolve(PUB, "model.safetensors")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, FX.files[PUB]["model.safetensors"])
        self.assertEqual(self.resolve(PUB, "README.md").status, 200)
        # the Xet path: same rule, decided from the file's paths in the token's commit
        xt = self.xet_token(PUB)
        r = self.get("/v2/reconstructions/" + self.xet_hash(PUB, "pytorch_model.bin"), self.auth(xt))
        self.assertDenied(r, 1, "pickle")
        self.assertEqual(self.get("/v1/reconstructions/" + self.xet_hash(PUB, "pytorch_model.bin"),
                                  self.auth(xt)).status, 403)
        self.assertEqual(self.get("/v2/reconstructions/" + self.xet_hash(PUB, "model.safetensors"),
                                  self.auth(xt)).status, 200)
        # the verdict is in the audit log
        lines = wait_lines(os.path.join(self.dir, "audit.log"), 9)
        denied = [ln for ln in lines if ln["status"] == 403]
        self.assertTrue(denied)
        self.assertTrue(all(ln["verdict"] == "deny" and ln["rule"] == 1 for ln in denied), denied)
        self.assertTrue(all(ln["verdict"] is None for ln in lines if ln["status"] == 200))

    def test_default_deny_with_allow_rules(self):
        self.serve({"default": "deny", "rules": [{"action": "allow", "repo": PUB},
                                                 {"action": "allow", "type": "dataset"}]})
        self.assertEqual(self.resolve(PUB, "config.json").status, 200)
        self.assertEqual(self.get("/api/models/" + PUB).status, 200)
        self.assertEqual(self.resolve(PUB_DS, "a.csv", prefix="datasets/").status, 200)
        r = self.resolve(OTHER_PUB, "tool.txt")
        self.assertDenied(r, text="default deny")
        self.assertDenied(self.get("/api/models/%s/refs" % OTHER_PUB), text="default deny")
        # private repos: the policy answers before visibility, whatever the repo's existence
        self.assertDenied(self.get("/api/models/" + PRIV))
        self.assertDenied(self.get("/api/models/" + MISSING))
        self.assertEqual(self.get("/health").status, 200)

    def poll(self, fn, want, timeout=6.0):
        deadline = time.time() + timeout
        while True:
            got = fn()
            if got == want or time.time() > deadline:
                return got
            time.sleep(0.2)

    def test_reload_on_change(self):
        self.serve({"rules": []})
        status = lambda: self.get("/api/models/" + PUB).status  # noqa: E731
        self.assertEqual(status(), 200)
        self.write({"rules": [{"action": "deny", "repo": PUB}]})
        self.assertEqual(self.poll(status, 403), 403)
        tmp = self.policy + ".new"  # editors and config management replace the file
        with open(tmp, "w") as f:
            json.dump({"rules": [{"action": "deny", "repo": OTHER_PUB}]}, f)
        os.replace(tmp, self.policy)
        self.assertEqual(self.poll(status, 200), 200)
        self.assertEqual(self.get("/api/models/" + OTHER_PUB).status, 403)

    def test_reload_on_sighup(self):
        a = json.dumps({"rules": [{"action": "deny", "repo": "nobody/xxxxxxxxxxxxxxxx"}]})
        b = json.dumps({"rules": [{"action": "deny", "repo": PUB}]})
        b += " " * (len(a) - len(b))
        self.assertEqual(len(a), len(b))
        self.serve(a)
        st = os.stat(self.policy)
        self.assertEqual(self.get("/api/models/" + PUB).status, 200)
        with open(self.policy, "r+") as f:  # same inode, size and mtime: only SIGHUP can tell
            f.write(b)
        os.utime(self.policy, ns=(st.st_atime_ns, st.st_mtime_ns))
        time.sleep(1.5)
        self.assertEqual(self.get("/api/models/" + PUB).status, 200)
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.poll(lambda: self.get("/api/models/" + PUB).status, 403), 403)
        self.assertIsNone(self.srv.proc.poll())

    def test_bad_policy_on_reload_keeps_the_old_one(self):
        self.serve({"rules": [{"action": "deny", "repo": PUB, "reason": "old policy"}]})
        self.assertDenied(self.get("/api/models/" + PUB), 1, "old policy")
        self.write('{"rules": [{"action": "deny", "repo": ')
        time.sleep(1.3)
        for _ in range(3):
            self.assertDenied(self.get("/api/models/" + PUB), 1, "old policy")
            time.sleep(0.5)
        self.srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertDenied(self.get("/api/models/" + PUB), 1, "old policy")
        self.write({"rules": [{"action": "deny", "repo": PUB, "typo": 1}]})
        time.sleep(1.3)
        self.assertDenied(self.get("/api/models/" + PUB), 1, "old policy")
        with open(self.srv.log.name) as f:
            log = f.read()
        self.assertIn("keeping the previous policy", log)
        self.assertIn("unknown key \"typo\"", log)
        # and a good file after the bad ones is picked up
        self.write({"rules": []})
        self.assertEqual(self.poll(lambda: self.get("/api/models/" + PUB).status, 200), 200)

    def test_bad_policy_at_startup_exits_1(self):
        cases = {
            "invalid JSON": ('{"rules": [', "invalid JSON"),
            "not an object": ("[]", "must be a JSON object"),
            "unknown top key": ('{"rule": []}', "unknown top-level key"),
            "unknown rule key": ('{"rules": [{"action": "deny", "repos": "x/*"}]}', 'rule 1: unknown key "repos"'),
            "bad action": ('{"rules": [{"action": "block"}]}', "rule 1"),
            "missing action": ('{"rules": [{"repo": "a/b"}]}', "action"),
            "bad default": ('{"default": "maybe"}', "default"),
            "bad type": ('{"rules": [{"action": "deny", "type": "weights"}]}', "type"),
            "short revision": ('{"rules": [{"action": "allow", "revision": "abc123"}]}', "40-hex"),
            "unknown format": ('{"rules": [{"action": "deny", "formats": ["pikle"]}]}', 'unknown format "pikle"'),
            "second rule": ('{"rules": [{"action": "deny"}, {"action": "deny", "org": "a/b"}]}', "rule 2"),
            "duplicate key": ('{"rules": [], "rules": []}', "invalid JSON"),
        }
        for label, (text, needle) in cases.items():
            with self.subTest(label):
                self.write(text)
                p = harness.run("serve", "--data", FX.data, "--listen", "127.0.0.1:0", "--no-upstream",
                                "--policy", self.policy, check=False, timeout=30)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("bad policy file", p.stderr)
                self.assertIn(needle, p.stderr)
                self.assertNotIn("listening", p.stdout)
        p = harness.run("serve", "--data", FX.data, "--listen", "127.0.0.1:0", "--no-upstream",
                        "--policy", os.path.join(self.dir, "missing.json"), check=False, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read", p.stderr)


# ---------------------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------------------

FIELDS = ["time", "client", "token", "method", "route", "type", "repo", "revision", "commit", "path", "hash",
          "status", "bytes", "complete", "ms", "cache", "verdict", "rule", "scan"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    assert raw == b"" or raw.endswith(b"\n"), raw[-200:]
    return [json.loads(ln) for ln in raw.decode("utf-8").splitlines()]


def wait_lines(path, n, timeout=10.0):
    """Lines are written when a response is done, just after the client has it: wait for n."""
    deadline = time.time() + timeout
    while True:
        lines = read_lines(path)
        if len(lines) >= n or time.time() > deadline:
            return lines
        time.sleep(0.05)


class AuditTests(ServerCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = harness.tempdir("hubgate-audit-")
        cls.log = os.path.join(cls.dir, "audit.log")
        cls.extra = ("--audit-log", cls.log)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        harness.rmtree(cls.dir)

    def setUp(self):
        self.mark = len(wait_lines(self.log, 0, 0))

    def new_lines(self, n):
        lines = wait_lines(self.log, self.mark + n)[self.mark:]
        self.assertEqual(len(lines), n, lines)
        for ln in lines:
            self.assertEqual(list(ln), FIELDS)
            self.assertRegex(ln["time"], TIME_RE)
            self.assertEqual(ln["client"], "127.0.0.1")
        return lines

    def test_fields_and_bytes(self):
        c = FX.commits[PUB]
        full = self.get("/%s/resolve/main/config.json" % PUB)
        rng = self.get("/%s/resolve/main/model.safetensors" % PUB, {"Range": "bytes=10-1033"})
        head = self.req("HEAD", "/%s/resolve/main/model.safetensors" % PUB)
        info = self.get("/api/models/%s/revision/%s" % (PUB, c))
        miss = self.get("/%s/resolve/main/nope.txt" % PUB)
        self.assertEqual((full.status, rng.status, head.status, info.status, miss.status), (200, 206, 200, 200, 404))
        self.assertEqual(len(rng.body), 1024)
        lines = self.new_lines(5)
        one = lambda f: [ln for ln in lines if f(ln)][0]  # noqa: E731
        a = one(lambda ln: ln["path"] == "config.json" and ln["status"] == 200)
        b = one(lambda ln: ln["status"] == 206)
        h = one(lambda ln: ln["method"] == "HEAD")
        i = one(lambda ln: ln["route"] == "revision")
        m = one(lambda ln: ln["status"] == 404)
        self.assertEqual((a["method"], a["route"], a["type"], a["repo"], a["revision"], a["commit"], a["path"]),
                         ("GET", "resolve", "model", PUB, "main", c, "config.json"))
        self.assertEqual((a["status"], a["bytes"], a["complete"], a["token"], a["hash"]),
                         (200, len(full.body), True, None, None))
        self.assertEqual((b["status"], b["bytes"], b["path"]), (206, 1024, "model.safetensors"))
        self.assertEqual((h["method"], h["status"], h["bytes"]), ("HEAD", 200, 0))
        self.assertEqual((i["route"], i["revision"], i["commit"], i["bytes"], i["path"]),
                         ("revision", c, c, len(info.body), None))
        self.assertEqual((m["status"], m["bytes"], m["commit"]), (404, len(miss.body), c))
        for ln in (a, b, h, i, m):
            self.assertIsNone(ln["verdict"])
            self.assertIsNone(ln["cache"])
            self.assertIsInstance(ln["ms"], int)

    def test_token_fingerprint_never_the_token(self):
        tok = FX.tokens["org"]
        r = self.get("/%s/resolve/main/secret.txt" % PRIV, self.auth(tok))
        self.assertEqual(r.status, 200)
        hf = "hf_SomeUpstreamTokenValue1234567890"
        self.assertEqual(self.get("/api/models/" + PUB, self.auth(hf)).status, 200)
        self.assertEqual(self.get("/api/models/" + PRIV).status, 401)
        lines = self.new_lines(3)
        a = [ln for ln in lines if ln["status"] == 200 and ln["repo"] == PRIV][0]
        b = [ln for ln in lines if ln["repo"] == PUB][0]
        c = [ln for ln in lines if ln["status"] == 401][0]
        self.assertEqual((a["token"], a["repo"], a["status"], a["bytes"]), (fp(tok), PRIV, 200, 11))
        self.assertEqual(b["token"], fp(hf))
        self.assertEqual((c["token"], c["status"]), (None, 401))
        with open(self.log) as f:
            text = f.read()
        for t in list(FX.tokens.values()) + [hf]:
            self.assertNotIn(t, text)
            self.assertNotIn(t[6:], text)

    def test_xet_requests(self):
        xt = self.xet_token(PUB)
        xh = self.xet_hash(PUB, "model.safetensors")
        rec = self.get("/v2/reconstructions/" + xh, self.auth(xt))
        self.assertEqual(rec.status, 200)
        entry = next(iter(rec.json()["xorbs"].values()))[0]
        rng = entry["ranges"][0]["bytes"]
        url = entry["url"].split("127.0.0.1:%d" % self.port, 1)[1]
        x = self.get(url, {"Range": "bytes=%d-%d" % (rng["start"], rng["end"])})
        self.assertEqual(x.status, 206)
        # lines are written as responses end, on the thread of each connection: any order
        by_route = {ln["route"]: ln for ln in self.new_lines(4)}
        tokline, recline, xorb = by_route["xet_token"], by_route["reconstruction_v2"], by_route["xorb"]
        self.assertEqual((tokline["route"], tokline["repo"], tokline["commit"]),
                         ("xet_token", PUB, FX.commits[PUB]))
        self.assertEqual((recline["route"], recline["repo"], recline["commit"], recline["hash"], recline["bytes"]),
                         ("reconstruction_v2", PUB, FX.commits[PUB], xh, len(rec.body)))
        self.assertEqual(recline["token"], fp(xt))
        self.assertEqual((xorb["route"], xorb["repo"], xorb["status"], xorb["bytes"]),
                         ("xorb", None, 206, rng["end"] - rng["start"] + 1))
        self.assertNotIn(xt, open(self.log).read())

    def test_not_logged(self):
        self.get("/health")
        self.get("/metrics")
        self.req("OPTIONS", "/api/models/" + PUB)
        self.get("/%s/resolve/main/config.json" % PUB)
        (ln,) = self.new_lines(1)
        self.assertEqual(ln["route"], "resolve")

    def test_concurrent_clients(self):
        errors = []

        def worker(k):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                for i in range(20):
                    path = "/%s/resolve/main/%s" % (PUB, "model.safetensors" if i % 4 == 0 else "config.json")
                    c.request("GET", path + "?k=%d&i=%d" % (k, i))
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or len(body) != len(FX.files[PUB][path.rsplit("/", 1)[1]]):
                        errors.append((k, i, r.status))
                c.close()
            except Exception as e:  # noqa: BLE001
                errors.append((k, repr(e)))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        lines = self.new_lines(320)
        sizes = {"config.json": len(FX.files[PUB]["config.json"]),
                 "model.safetensors": len(FX.files[PUB]["model.safetensors"])}
        for ln in lines:
            self.assertEqual(ln["status"], 200)
            self.assertEqual(ln["bytes"], sizes[ln["path"]])
        time.sleep(0.3)
        self.assertEqual(len(read_lines(self.log)), self.mark + 320)

    def test_rotation(self):
        # rename (logrotate without copytruncate), then requests: a new file after at most ~1 s
        old = self.log + ".1"
        os.rename(self.log, old)
        try:
            deadline = time.time() + 8
            while not os.path.exists(self.log) and time.time() < deadline:
                self.get("/%s/resolve/main/config.json" % PUB)
                time.sleep(0.2)
            self.assertTrue(os.path.exists(self.log))
            n_old = len(read_lines(old))
            self.get("/%s/resolve/main/notes.txt" % PUB)
            lines = wait_lines(self.log, 1)
            self.assertTrue(lines and lines[-1]["path"] in ("notes.txt", "config.json"))
            self.assertEqual(len(read_lines(old)), n_old)  # nothing more goes to the old file
            # SIGHUP reopens at once
            os.rename(self.log, old + "b")
            self.srv.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            self.get("/%s/resolve/main/README.md" % PUB)
            lines = wait_lines(self.log, 1)
            self.assertEqual([ln["path"] for ln in lines], ["README.md"])
        finally:
            self.mark = len(read_lines(self.log))


# ---------------------------------------------------------------------------------------------
# Gateway mode: the policy and the audit log for upstream repos (fakehub.py as huggingface.co)
# ---------------------------------------------------------------------------------------------

class GatewayPolicyTests(Case):
    UP = "uporg/model"

    @classmethod
    def setUpClass(cls):
        import fakehub
        os.environ.pop("HF_TOKEN", None)  # the gateway must reach the fake anonymously
        cls.hub = fakehub.FakeHub(hubgate=harness.HUBGATE)
        cls.files = {"config.json": b'{"upstream": 1}\n', "model.safetensors": det("up-st", 200_000),
                     "pytorch_model.bin": det("up-bin", 100_000)}
        cls.commit = cls.hub.add_repo(cls.UP, cls.files, xet=False)
        cls.hub.add_repo("blocked/model", {"a.txt": b"blocked\n"}, xet=False)
        cls.dir = harness.tempdir("hubgate-secgw-")
        cls.log = os.path.join(cls.dir, "audit.log")
        policy = os.path.join(cls.dir, "policy.json")
        with open(policy, "w") as f:
            json.dump({"rules": [{"action": "deny", "formats": ["pickle"], "reason": "no pickles"},
                                 {"action": "deny", "org": "blocked"}]}, f)
        cls.srv = harness.Server(os.path.join(cls.dir, "data"), "--upstream", cls.hub.url, "--policy", policy,
                                 "--audit-log", cls.log).__enter__()
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        cls.hub.close()
        harness.rmtree(cls.dir)

    def upstream_paths(self):
        return [r.path for r in list(self.hub.requests)]

    def test_upstream_files_and_repos(self):
        r = self.get("/%s/resolve/main/model.safetensors" % self.UP)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.files["model.safetensors"])
        self.assertEqual(self.get("/api/models/" + self.UP).status, 200)
        for m in ("HEAD", "GET"):
            r = self.req(m, "/%s/resolve/main/pytorch_model.bin" % self.UP)
            self.assertError(r, 403, "PolicyDenied")
            self.assertIn("no pickles", r.h("X-Error-Message"))
        r = self.get("/api/models/blocked/model")
        self.assertError(r, 403, "PolicyDenied")
        self.assertIn("org blocked", r.h("X-Error-Message"))
        self.assertFalse([p for p in self.upstream_paths() if "pytorch_model.bin" in p or "blocked" in p],
                         "denied requests must not reach upstream")
        lines = wait_lines(self.log, 5)
        ok = [ln for ln in lines if ln["path"] == "model.safetensors"]
        self.assertEqual(len(ok), 1, lines)
        self.assertEqual((ok[0]["status"], ok[0]["bytes"], ok[0]["commit"]),
                         (200, len(self.files["model.safetensors"]), self.commit))
        denied = [ln for ln in lines if ln["status"] == 403]
        self.assertEqual(len(denied), 3, lines)
        self.assertTrue(all(ln["verdict"] == "deny" for ln in denied))
        # the body came from upstream the first time, from the store once it is stored
        for _ in range(40):
            self.assertEqual(self.get("/%s/resolve/main/model.safetensors" % self.UP).status, 200)
            lines = wait_lines(self.log, len(lines) + 1)
            st = [ln["cache"] for ln in lines if ln["path"] == "model.safetensors"]
            if st[-1] == "hit":
                break
            time.sleep(0.05)
        self.assertEqual((st[0], st[-1]), ("miss", "hit"), lines)


if __name__ == "__main__":
    unittest.main()
