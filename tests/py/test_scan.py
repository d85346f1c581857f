"""`hubgate scan`: verdicts on a generated corpus (scan_corpus.py: benign models of every
format, one malicious sample per evasion of shared/docs/security.md), JSON output and exit status.

Python 3 standard library only.  Run:
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_scan

Detection and false-positive rates are printed on stderr; both must be perfect (100 % / 0 %).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import harness
import scan_corpus

RANK = {"allow": 0, "warn": 1, "block": 2}


def note(msg):
    sys.stderr.write(f"\n    [scan] {msg}")
    sys.stderr.flush()


class ScanCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hubgate-scan-")
        cls.samples = scan_corpus.corpus()
        cls.paths = {}
        for s in cls.samples:
            p = os.path.join(cls.dir, s.name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(s.data)
            cls.paths[s.name] = p
        names = [cls.paths[s.name] for s in cls.samples]
        p = subprocess.run([harness.HUBGATE, "scan", "--json", *names], capture_output=True, text=True,
                           timeout=600)
        cls.rc = p.returncode
        cls.stderr = p.stderr
        cls.report = {r["file"]: r for r in json.loads(p.stdout)}

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.dir)

    def test_corpus_verdicts(self):
        wrong = []
        tp = fn = fp = tn = 0
        for s in self.samples:
            r = self.report[self.paths[s.name]]
            ids = {f["id"] for f in r["findings"]}
            ok = r["verdict"] == s.expect and s.ids <= ids
            if not ok:
                wrong.append(f"{s.name}: got {r['verdict']} {sorted(ids)}, want {s.expect} "
                             f"{sorted(s.ids)} ({s.ref})")
            if s.malicious:
                if RANK[r["verdict"]] >= RANK[s.expect] and r["verdict"] != "allow":
                    tp += 1
                else:
                    fn += 1
            elif s.expect == "allow":
                if r["verdict"] == "allow":
                    tn += 1
                else:
                    fp += 1
        note(f"corpus: {len(self.samples)} files, {tp + fn} malicious/malformed, {tn + fp} benign")
        note(f"detection rate {100.0 * tp / max(1, tp + fn):.1f} % ({tp}/{tp + fn}), "
             f"false-positive rate {100.0 * fp / max(1, tn + fp):.1f} % ({fp}/{tn + fp})")
        self.assertEqual(wrong, [], "\n" + "\n".join(wrong))
        self.assertEqual(fn, 0)
        self.assertEqual(fp, 0)
        self.assertEqual(self.rc, 2, self.stderr)

    def test_json_structure(self):
        self.assertEqual(len(self.report), len(self.samples))
        for r in self.report.values():
            self.assertEqual(set(r) - {"file", "format", "verdict", "findings"}, set())
            self.assertIn(r["verdict"], RANK)
            self.assertIsInstance(r["format"], str)
            worst = "allow"
            for f in r["findings"]:
                self.assertTrue({"id", "severity", "message"} <= set(f), f)
                self.assertIn(f["severity"], ("info", "warn", "block"))
                self.assertRegex(f["id"], r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
                sev = {"info": "allow"}.get(f["severity"], f["severity"])
                worst = max(worst, sev, key=RANK.get)
                if "offset" in f:
                    self.assertGreaterEqual(f["offset"], 0)
            self.assertEqual(worst, r["verdict"], r)

    def test_formats_detected_by_content(self):
        want = {"benign/pytorch_model.bin": "pytorch-zip", "benign/legacy.bin": "pytorch-legacy",
                "benign/model.joblib": "joblib", "benign/arrays.npz": "npz", "benign/model.keras": "keras",
                "benign/model.gguf": "gguf", "benign/model.onnx": "onnx", "benign/arr_f4.npy": "npy",
                "benign/model.safetensors": "safetensors", "benign/plain_p0.pkl": "pickle",
                "benign/README.md": "unknown", "legacy/plain_pickle_as_bin.bin": "pickle"}
        for name, fmt in want.items():
            self.assertEqual(self.report[self.paths[name]]["format"], fmt, name)
        # renamed files are judged by content, not by name
        for name in ("E2/posix_system.pkl", "benign/model.safetensors"):
            with open(self.paths[name], "rb") as f:
                data = f.read()
            p = os.path.join(self.dir, "renamed.txt")
            with open(p, "wb") as f:
                f.write(data)
            r = json.loads(harness.run("scan", "--json", p, check=False).stdout)[0]
            self.assertEqual(r["verdict"], self.report[self.paths[name]]["verdict"], name)

    def test_global_named(self):
        r = self.report[self.paths["E4/memo_decoy.pkl"]]
        hits = [f for f in r["findings"] if f["id"] == "pickle.global.denied"]
        self.assertEqual([f["global"] for f in hits], ["posix.system"])
        self.assertIn("offset", hits[0])
        r = self.report[self.paths["E1/builtin_eval_p0.pkl"]]
        self.assertEqual([f.get("global") for f in r["findings"] if f["severity"] == "block"],
                         ["builtins.eval"])
        r = self.report[self.paths["zip/evil_data_pkl.pt"]]
        self.assertTrue(any(f.get("member") == "archive/data.pkl" for f in r["findings"]), r)


class ScanCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hubgate-scan-cli-")

    def tearDown(self):
        harness.rmtree(self.dir)

    def write(self, name, data):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_exit_status(self):
        allow = self.write("a.safetensors", scan_corpus.safetensors([("a", "F32", [1], 4)]))
        warn = self.write("w.safetensors", scan_corpus.safetensors([("a", "F32", [1], 4)], meta={"n": 1}))
        block = self.write("b.pkl", scan_corpus.call2("posix", "system"))
        self.assertEqual(harness.run("scan", allow, check=False).returncode, 0)
        self.assertEqual(harness.run("scan", allow, warn, check=False).returncode, 1)
        self.assertEqual(harness.run("scan", allow, warn, block, check=False).returncode, 2)
        self.assertEqual(harness.run("scan", "--json", block, allow, check=False).returncode, 2)
        p = harness.run("scan", os.path.join(self.dir, "missing"), allow, check=False)
        self.assertEqual(p.returncode, 3)
        self.assertIn("missing", p.stderr)
        self.assertEqual(harness.run("scan", check=False).returncode, 3)
        self.assertEqual(harness.run("scan", "--bogus", allow, check=False).returncode, 3)
        p = harness.run("scan", "--help", check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Exit status", p.stdout)

    def test_text_output(self):
        block = self.write("b.pkl", scan_corpus.call4("builtins", "getattr"))
        p = harness.run("scan", block, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"{block}: block (pickle)", p.stdout)
        self.assertIn("pickle.global.denied", p.stdout)
        self.assertIn("builtins.getattr", p.stdout)

    def test_json_unreadable(self):
        p = harness.run("scan", "--json", os.path.join(self.dir, "nope"), check=False)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(json.loads(p.stdout)[0]["verdict"], "error")

    def test_large_sparse_safetensors_header_only(self):
        import struct
        import time
        hdr = json.dumps({"w": {"dtype": "F32", "shape": [1024, 1024, 1024], "data_offsets": [0, 4 << 30]}})
        hdr = hdr.encode() + b" " * ((8 - len(hdr) % 8) % 8)
        p = os.path.join(self.dir, "big.safetensors")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(hdr)) + hdr)
            f.truncate(8 + len(hdr) + (4 << 30))
        t = time.monotonic()
        r = harness.run("scan", "--json", p, check=False)
        dt = time.monotonic() - t
        self.assertEqual(r.returncode, 0, r.stdout)
        note(f"4 GiB sparse safetensors scanned in {dt * 1000:.1f} ms (process included)")
        self.assertLess(dt, 5.0)


if __name__ == "__main__":
    unittest.main()
