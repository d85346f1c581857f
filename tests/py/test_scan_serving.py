"""The model-file scanner in the serving path (`hubgate serve --scan block|warn|off`).

Through a real `hubgate serve`: local repos (verdicts on first use, kept in the store), the Xet
path, the three modes, and the pull-through gateway in front of the fake upstream, where a cold
pickle is held back until the whole body was judged (and refused with a clean 403 when it
blocks), while a safetensors file streams as soon as its header passed.

    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_scan_serving
"""
import hashlib
import http.client
import json
import os
import pickle
import random
import sqlite3
import time
import unittest

import fakehub
import harness
import scan_corpus as sc

MiB = 1 << 20


def det(seed, n):
    return random.Random(seed).randbytes(n)


def req(port, method, path, headers=None):
    r = harness.request(port, method, path, headers)
    return r.status, r.headers, r.body


EVIL = sc.call2("os", "system")                          # protocol 2: os.system("echo ...")
EVIL_ZIP = sc.torch_zip(pkl=sc.call4("builtins", "exec"), storages=[])
GOOD_PT, _ = sc.torch_pickle(proto=2)
GOOD_ZIP = sc.torch_zip()
SAFE = sc.safetensors([("w", "U8", [2 * MiB], 2 * MiB)], data=det(5, 2 * MiB))
WARN_H5 = b"\x89HDF\r\n\x1a\n" + det(6, 4096)            # HDF5: not inspected -> warn
FILES = {
    "evil.bin": EVIL,
    "pytorch_model.bin": GOOD_ZIP,
    "legacy.pt": GOOD_PT,
    "model.safetensors": SAFE,
    "evil_zip.pt": EVIL_ZIP,
    "model.h5": WARN_H5,
    "config.json": b'{"x": 1}\n',
    "disguised.safetensors": GOOD_PT,                     # a (harmless) pickle by another name
}


class Local(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-scansrv-")
        src = os.path.join(cls.tmp, "src")
        os.makedirs(src)
        for p, d in FILES.items():
            with open(os.path.join(src, p), "wb") as f:
                f.write(d)
        cls.data = os.path.join(cls.tmp, "data")
        cls.commit = harness.import_dir(cls.data, src, "org/m")

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def p(self, name):
        return "/org/m/resolve/main/" + name

    def test_block_mode(self):
        with harness.Server(self.data, "--scan", "block") as s:
            for name in ("evil.bin", "evil_zip.pt"):
                for method in ("GET", "HEAD"):
                    st, h, body = req(s.port, method, self.p(name))
                    self.assertEqual((st, h.get("x-error-code")), (403, "BlockedByScanner"), "%s %s" % (method, name))
                    self.assertNotIn(FILES[name], body)
            st, h, _ = req(s.port, "GET", self.p("evil.bin"))
            self.assertIn("os.system", h["x-error-message"], "the finding is named")
            self.assertIn("exec", req(s.port, "GET", self.p("evil_zip.pt"))[1]["x-error-message"])
            for name in ("pytorch_model.bin", "legacy.pt", "model.safetensors"):
                st, h, body = req(s.port, "GET", self.p(name))
                self.assertEqual((st, body == FILES[name], h.get("x-hubgate-scan")), (200, True, "allow"), name)
            st, h, body = req(s.port, "GET", self.p("model.h5"))
            self.assertEqual((st, body, h.get("x-hubgate-scan")), (200, WARN_H5, "warn"))
            self.assertIn("hdf5.not_inspected", h.get("x-hubgate-scan-findings", ""))
            st, h, body = req(s.port, "GET", self.p("config.json"))   # not LFS: not scanned
            self.assertEqual((st, h.get("x-hubgate-scan")), (200, None))
            # raw serves the LFS pointer (no model bytes): not refused
            st, _, body = req(s.port, "GET", "/org/m/raw/main/evil.bin")
            self.assertEqual(st, 200)
            self.assertTrue(body.startswith(b"version https://git-lfs"))
            # the Xet path refuses the same content
            _, h, _ = req(s.port, "HEAD", self.p("model.safetensors"))
            tok = json.loads(req(s.port, "GET", "/api/models/org/m/xet-read-token/main")[2])["accessToken"]
            xh_evil = hashlib.sha256(EVIL).hexdigest()  # not the xet hash; find it from the tree
            tree = json.loads(req(s.port, "GET", "/api/models/org/m/tree/main")[2])
            xh = {e["path"]: e.get("xetHash") for e in tree}
            self.assertNotEqual(xh["evil.bin"], xh_evil)
            st, h, _ = req(s.port, "GET", "/v2/reconstructions/" + xh["evil.bin"], {"Authorization": "Bearer " + tok})
            self.assertEqual((st, h.get("x-error-code")), (403, "BlockedByScanner"))
            st, _, _ = req(s.port, "GET", "/v2/reconstructions/" + xh["model.safetensors"], {"Authorization": "Bearer " + tok})
            self.assertEqual(st, 200)
        # verdicts are kept per content, with the rule version
        db = sqlite3.connect(os.path.join(self.data, "index.sqlite"))
        rows = {bytes(r[0]).hex(): (r[1], r[2]) for r in db.execute("SELECT sha256, verdict, format FROM scans")}
        db.close()
        self.assertEqual(rows[hashlib.sha256(EVIL).hexdigest()], (2, "pickle"))
        self.assertEqual(rows[hashlib.sha256(SAFE).hexdigest()], (0, "safetensors"))

    def test_warn_and_off_modes(self):
        log = os.path.join(self.tmp, "audit.log")
        with harness.Server(self.data, "--scan", "warn", "--audit-log", log) as s:
            st, h, body = req(s.port, "GET", self.p("evil.bin"))
            self.assertEqual((st, body, h.get("x-hubgate-scan")), (200, EVIL, "block"))
            self.assertIn("os.system", h.get("x-hubgate-scan-findings", ""))
            req(s.port, "GET", self.p("model.safetensors"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with open(log) as f:
                    lines = [json.loads(x) for x in f if x.strip()]
                if len(lines) >= 2:
                    break
                time.sleep(0.05)
        self.assertEqual([(x["path"], x["scan"]) for x in lines], [("evil.bin", "block"), ("model.safetensors", "allow")])
        with harness.Server(self.data, "--scan", "off") as s:
            st, h, body = req(s.port, "GET", self.p("evil.bin"))
            self.assertEqual((st, body, h.get("x-hubgate-scan")), (200, EVIL, None))

    def test_policy_formats_by_content(self):
        """"No pickles at all" also catches a pickle named .safetensors, on resolve and on Xet."""
        pol = os.path.join(self.tmp, "nopickle.json")
        with open(pol, "w") as f:
            json.dump({"rules": [{"action": "deny", "formats": ["pickle"], "reason": "no pickles"}]}, f)
        with harness.Server(self.data, "--scan", "block", "--policy", pol) as s:
            for name in ("disguised.safetensors", "legacy.pt"):
                st, h, body = req(s.port, "GET", self.p(name))
                self.assertEqual((st, h.get("x-error-code")), (403, "PolicyDenied"), name)
                self.assertIn("no pickles", h["x-error-message"])
            st, h, body = req(s.port, "GET", self.p("model.safetensors"))
            self.assertEqual((st, body), (200, SAFE))
            tok = json.loads(req(s.port, "GET", "/api/models/org/m/xet-read-token/main")[2])["accessToken"]
            tree = json.loads(req(s.port, "GET", "/api/models/org/m/tree/main")[2])
            xh = {e["path"]: e.get("xetHash") for e in tree}
            st, h, _ = req(s.port, "GET", "/v2/reconstructions/" + xh["disguised.safetensors"],
                           {"Authorization": "Bearer " + tok})
            self.assertEqual((st, h.get("x-error-code")), (403, "PolicyDenied"))
        with harness.Server(self.data, "--scan", "block") as s:   # without the rule it is served
            st, h, body = req(s.port, "GET", self.p("disguised.safetensors"))
            self.assertEqual((st, body, h.get("x-hubgate-scan")), (200, GOOD_PT, "allow"))

    def test_policy_file_decides_and_reloads(self):
        pol = os.path.join(self.tmp, "policy.json")
        with open(pol, "w") as f:
            json.dump({"scan": "warn"}, f)
        with harness.Server(self.data, "--scan", "block", "--policy", pol) as s:
            st, h, body = req(s.port, "GET", self.p("evil.bin"))
            self.assertEqual((st, h.get("x-hubgate-scan")), (200, "block"), "the policy's scan: warn wins")
            time.sleep(1.1)                  # the file is looked at no more than once per second
            with open(pol, "w") as f:
                json.dump({"scan": "block", "rules": []}, f)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                st, h, _ = req(s.port, "GET", self.p("evil.bin"))
                if st == 403:
                    break
                time.sleep(0.2)
            self.assertEqual((st, h.get("x-error-code")), (403, "BlockedByScanner"), "reloaded")
        with open(pol, "w") as f:
            json.dump({"scan": "sometimes"}, f)
        p = harness.run("serve", "--data", self.data, "--policy", pol, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('"scan" must be', p.stderr)

    def test_bad_mode_is_a_usage_error(self):
        p = harness.run("serve", "--data", self.data, "--scan", "maybe", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--scan", p.stderr)


class Gateway(unittest.TestCase):
    """Cold downloads through the gateway, judged before release."""

    @classmethod
    def setUpClass(cls):
        os.environ.pop("HF_TOKEN", None)
        cls.tmp = harness.tempdir("hubgate-scangw-")
        cls.hub = fakehub.FakeHub()
        big_pickle = pickle.dumps({"w": det(7, 3 * MiB)}, protocol=4)
        big_safe = sc.safetensors([("w", "U8", [3 * MiB], 3 * MiB)], data=det(8, 3 * MiB))
        cls.files = {"evil.bin": EVIL + det(9, 64), "big.pkl": big_pickle, "big.safetensors": big_safe,
                     "data.parquet": b"PAR1" + det(10, 3 * MiB) + b"PAR1",
                     # parquet by its head, a pickle in truth: streams, then loses its last byte
                     "fake.parquet": b"PAR1\n" + sc.call0("os", "system") + det(11, 2 * MiB)}
        # evil.bin: a malicious pickle followed by junk still blocks (trailing data)
        cls.hub.add_repo("org/m", cls.files, xet=False)

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()
        harness.rmtree(cls.tmp)

    def setUp(self):
        self.hub.faults.clear()
        self.hub.reset_counters()
        self.gw = harness.Server(os.path.join(self.tmp, self.id().rsplit(".", 1)[-1]), "--upstream", self.hub.url,
                                 "--scan", "block").__enter__()

    def tearDown(self):
        self.hub.faults.clear()
        self.gw.__exit__(None, None, None)

    def timed_get(self, name):
        """(status, headers, body, seconds to the first body byte, seconds in all)."""
        c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
        t0 = time.monotonic()
        c.request("GET", "/org/m/resolve/main/" + name)
        r = c.getresponse()
        first = r.read(1)
        ttfb = time.monotonic() - t0
        body = first + r.read()
        total = time.monotonic() - t0
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body, ttfb, total

    def test_cold_malicious_pickle_refused_cleanly_and_remembered(self):
        st, h, body, _, _ = self.timed_get("evil.bin")
        self.assertEqual((st, h.get("x-error-code")), (403, "BlockedByScanner"), body[:200])
        self.assertIn("os.system", h["x-error-message"])
        self.assertEqual(self.hub.counters["cdn_get"], 1)
        self.hub.reset_counters()
        st, h, _, _, _ = self.timed_get("evil.bin")
        self.assertEqual(st, 403)
        self.assertEqual(self.hub.counters["cdn_bytes"], 0, "the verdict was not remembered")

    def test_streamed_file_that_blocks_is_cut_and_then_refused(self):
        data = self.files["fake.parquet"]
        c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
        c.request("GET", "/org/m/resolve/main/fake.parquet")
        r = c.getresponse()
        self.assertEqual(r.status, 200, "streams by its head")
        try:
            body = r.read()
            complete = len(body) == len(data)
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        c.close()
        self.assertFalse(complete, "a blocked file was delivered whole")
        self.assertLess(len(body), len(data))
        self.hub.reset_counters()
        for method in ("GET", "HEAD", "GET"):   # right away, while the refused transfer winds down
            st, h, _ = req(self.gw.port, method, "/org/m/resolve/main/fake.parquet")
            self.assertEqual((st, h.get("x-error-code")), (403, "BlockedByScanner"), method)
        self.assertEqual(self.hub.counters["cdn_get"], 0, "a refused file was downloaded again")

    def test_cold_pickle_held_until_judged_safetensors_streams(self):
        self.hub.faults.hosts = {"cdn"}
        for name in ("big.pkl", "big.safetensors", "data.parquet"):
            self.hub.faults.slow_bps = len(self.files[name]) / 1.5      # about 1.5 s upstream
            st, h, body, ttfb, total = self.timed_get(name)
            self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(self.files[name]).hexdigest()), name)
            print("\n  %s: first byte after %.2f s of %.2f s" % (name, ttfb, total), end="")
            if name == "big.pkl":
                self.assertGreater(ttfb, 0.8 * total, "a pickle was released before it was judged")
            else:
                self.assertLess(ttfb, 0.5 * total, "%s should stream (its header / prefix decides)" % name)
            self.assertEqual(h.get("x-hubgate-scan"), "allow" if name != "data.parquet" else None, name)
            # once stored, the verdict comes with every download
            st, h, _, _, _ = self.timed_get(name)
            self.assertEqual((st, h.get("x-hubgate-scan")), (200, "allow"), name)


if __name__ == "__main__":
    unittest.main()
