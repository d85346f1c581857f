"""The plain-file cache (--file-cache): contiguous copies of downloaded contents, sent with
sendfile.  Through a real `hubgate serve` on a real store: copies appear after a download, are
served byte-identical (whole, single range, multi-range, HEAD), are never served before this
process verified them (a copy damaged on disk is deleted, the chunks serve), stay within the
budget (least recently served first out), can be turned off, and the gateway keeps a verified
upstream download as its copy without writing it again.

    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_store_files
"""
import hashlib
import http.client
import os
import random
import time
import unittest

import fakehub
import harness
import test_protocol

MiB = 1 << 20


def det(seed, n):
    return random.Random(seed).randbytes(n)


def get(port, path, headers=None, method="GET"):
    r = harness.request(port, method, path, headers)
    return r.status, r.headers, r.body


def plain_files(data):
    root = os.path.join(data, "files")
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names]
    return sorted(out)


def wait_made(srv, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = srv.metrics()
        if m.get("hubgate_plain_files_made_total", 0) >= n:
            return m
        time.sleep(0.05)
    raise AssertionError("no plain copy made: %r" % srv.metrics())


class LocalRepo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-files-")
        src = os.path.join(cls.tmp, "src")
        os.makedirs(src)
        cls.files = {"a.safetensors": det(1, 3 * MiB + 11), "b.bin": det(2, 2 * MiB + 3),
                     "small.bin": det(3, 100 * 1024), "config.json": b'{"x": 1}\n'}
        for p, d in cls.files.items():
            with open(os.path.join(src, p), "wb") as f:
                f.write(d)
        cls.data = os.path.join(cls.tmp, "data")
        harness.import_dir(cls.data, src, "org/m")

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def setUp(self):
        harness.rmtree(os.path.join(self.data, "files"))

    def path(self, p):
        return "/org/m/resolve/main/" + p

    def test_copy_made_then_served_identically(self):
        data = self.files["a.safetensors"]
        with harness.Server(self.data) as s:
            st, h, body = get(s.port, self.path("a.safetensors"))
            self.assertEqual((st, body), (200, data))
            m = wait_made(s, 1)
            self.assertEqual(m["hubgate_plain_files_served_total"], 0, "the first download came from the chunks")
            copies = plain_files(self.data)
            self.assertEqual([os.path.basename(p) for p in copies], [hashlib.sha256(data).hexdigest()])
            st, h2, body = get(s.port, self.path("a.safetensors"))
            self.assertEqual((st, body), (200, data))
            self.assertEqual(h2["etag"], h["etag"])
            st, h2, body = get(s.port, self.path("a.safetensors"), {"Range": "bytes=1000000-1999999"})
            self.assertEqual((st, body, h2["content-range"]), (206, data[1000000:2000000],
                                                              "bytes 1000000-1999999/%d" % len(data)))
            st, h2, body = get(s.port, self.path("a.safetensors"), {"Range": "bytes=-10"})
            self.assertEqual((st, body), (206, data[-10:]))
            st, h2, body = get(s.port, self.path("a.safetensors"), {"Range": "bytes=0-9,3000000-3000009"})
            self.assertEqual(st, 206)
            parts = test_protocol.parse_multipart(body, h2["content-type"])
            self.assertEqual([p[4] for p in parts], [data[:10], data[3000000:3000010]])
            st, h2, body = get(s.port, self.path("a.safetensors"), method="HEAD")
            self.assertEqual((st, body, int(h2["content-length"])), (200, b"", len(data)))
            m = s.metrics()
            self.assertGreaterEqual(m["hubgate_plain_files_served_total"], 4, m)
            # small files and regular files below the threshold get no copy
            for p in ("small.bin", "config.json"):
                self.assertEqual(get(s.port, self.path(p))[2], self.files[p])
            time.sleep(0.3)
            self.assertEqual(len(plain_files(self.data)), 1)

    def test_damaged_copy_is_never_served(self):
        data = self.files["b.bin"]
        with harness.Server(self.data) as s:
            get(s.port, self.path("b.bin"))
            wait_made(s, 1)
        (copy,) = plain_files(self.data)
        with open(copy, "r+b") as f:       # flip one byte in the middle
            f.seek(len(data) // 2)
            b = f.read(1)
            f.seek(len(data) // 2)
            f.write(bytes([b[0] ^ 0xFF]))
        with harness.Server(self.data) as s:
            for _ in range(3):             # before, during and after the new process hashed it
                st, _, body = get(s.port, self.path("b.bin"))
                self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(data).hexdigest()))
                time.sleep(0.3)
            with open(s.log.name, errors="replace") as f:
                self.assertIn("does not match its sha256", f.read(), "the damage was not noticed")
        # whatever copy exists now was made again from the chunks
        for c in plain_files(self.data):
            with open(c, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_budget_evicts_the_least_recently_served(self):
        a, b = self.files["a.safetensors"], self.files["b.bin"]
        with harness.Server(self.data, "--file-cache", "4M") as s:
            get(s.port, self.path("a.safetensors"))
            wait_made(s, 1)
            old = plain_files(self.data)[0]
            os.utime(old, (time.time() - 3600, time.time() - 3600))
            get(s.port, self.path("b.bin"))
            wait_made(s, 2)
            names = [os.path.basename(p) for p in plain_files(self.data)]
            self.assertEqual(names, [hashlib.sha256(b).hexdigest()], "the older copy must go (4 MiB budget)")
            self.assertLessEqual(s.metrics()["hubgate_plain_files_bytes"], 4 * MiB)
            self.assertEqual(get(s.port, self.path("a.safetensors"))[2], a)

    def test_off(self):
        with harness.Server(self.data, "--file-cache", "0") as s:
            for _ in range(2):
                self.assertEqual(get(s.port, self.path("b.bin"))[2], self.files["b.bin"])
            time.sleep(0.3)
            self.assertEqual(s.metrics()["hubgate_plain_files_made_total"], 0)
        self.assertEqual(plain_files(self.data), [])

    def test_bad_size_is_a_usage_error(self):
        p = harness.run("serve", "--data", self.data, "--file-cache", "lots", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--file-cache", p.stderr)


class Gateway(unittest.TestCase):
    def test_download_kept_as_the_copy(self):
        os.environ.pop("HF_TOKEN", None)
        tmp = harness.tempdir("hubgate-files-gw-")
        data = det(9, 5 * MiB + 1)
        with fakehub.FakeHub() as hub:
            hub.add_repo("org/plain", {"w.bin": data}, xet=False)
            with harness.Server(os.path.join(tmp, "gw"), "--upstream", hub.url) as s:
                st, _, body = get(s.port, "/org/plain/resolve/main/w.bin")
                self.assertEqual((st, body), (200, data))
                m = wait_made(s, 1)
                self.assertEqual(len(plain_files(os.path.join(tmp, "gw"))), 1)
                hub.reset_counters()
                st, _, body = get(s.port, "/org/plain/resolve/main/w.bin")
                self.assertEqual((st, body), (200, data))
                m = s.metrics()
                self.assertEqual(m["hubgate_plain_files_served_total"], 1, m)
                self.assertEqual(hub.counters["cdn_bytes"], 0)
        harness.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
