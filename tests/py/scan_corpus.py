"""A model-file corpus for `hubgate scan`, built with the Python standard library only.

Nothing here is ever unpickled.  Pickles are assembled opcode by opcode or dumped by
`pickle` from plain objects and from stand-in classes whose __module__/__qualname__ are the real
torch/numpy/joblib names (shared/docs/security.md 5.2); payloads are inert (`echo`, `pass`).

corpus() returns a list of Sample(name, data, expect, ids, malicious, ref): `expect` is the
verdict the scanner must give ("allow", "warn", "block"), `ids` finding ids that must be among
the findings, `ref` the security.md section or technique the sample exercises.
"""
import collections
import contextlib
import hashlib
import io
import json
import pickle
import struct
import sys
import types
import zipfile
import zlib

Sample = collections.namedtuple("Sample", "name data expect ids malicious ref")

# ---------------------------------------------------------------- opcode helpers

def G(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def U(s):  # SHORT_BINUNICODE / BINUNICODE
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + struct.pack("<I", len(b))) + b


def XU(s):  # BINUNICODE (protocol 1)
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def S(s):  # protocol 0 STRING
    return b"S'" + s.encode() + b"'\n"


def BB(b):  # BINBYTES / SHORT_BINBYTES
    return (b"C" + bytes([len(b)]) if len(b) < 256 else b"B" + struct.pack("<I", len(b))) + b


P2, P4, P5 = b"\x80\x02", b"\x80\x04", b"\x80\x05"
ECHO = "echo hubgate-scan-test"


def call0(mod, name, arg=ECHO):
    """Protocol 0: mod.name(arg)."""
    return G(mod, name) + b"(" + S(arg) + b"tR."


def call2(mod, name, arg=ECHO):
    return P2 + G(mod, name) + XU(arg) + b"\x85R."


def call4(mod, name, arg=ECHO):
    """Protocol 4 STACK_GLOBAL with memoized operands."""
    return P4 + U(mod) + b"\x94" + U(name) + b"\x94\x93\x94" + U(arg) + b"\x85R."


def frame4(body):
    return P4 + b"\x95" + struct.pack("<Q", len(body)) + body


# ---------------------------------------------------------------- stand-in modules

@contextlib.contextmanager
def fake_modules(names):
    """Registers empty modules (and parents) for the duration of a dump."""
    made = {}
    for full in names:
        parts = full.split(".")
        for i in range(1, len(parts) + 1):
            n = ".".join(parts[:i])
            if n not in sys.modules and n not in made:
                made[n] = types.ModuleType(n)
                sys.modules[n] = made[n]
            if i > 1:
                setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], sys.modules[n])
    try:
        yield {n: sys.modules[n] for n in names}
    finally:
        for n in made:
            sys.modules.pop(n, None)


def _put(mod, name, obj):
    obj.__module__ = mod.__name__
    obj.__qualname__ = name
    obj.__name__ = name
    setattr(mod, name, obj)
    return obj


class Storage:
    def __init__(self, key, cls, numel, elsize=4):
        self.key, self.cls, self.numel, self.elsize = key, cls, numel, elsize


def torch_pickle(proto=2, ntensors=3, legacy=False, param=False, extra=None):
    """Bytes shaped like torch.save's data.pkl: OrderedDict of _rebuild_tensor_v2 calls whose
    storages are persistent ids ('storage', torch.FloatStorage, key, 'cpu', numel)."""
    with fake_modules(["torch", "torch._utils"]) as m:
        torch, utils = m["torch"], m["torch._utils"]
        FloatStorage = _put(torch, "FloatStorage", type("FloatStorage", (), {}))
        HalfStorage = _put(torch, "HalfStorage", type("HalfStorage", (), {}))

        def _rebuild_tensor_v2(*a):
            pass

        def _rebuild_parameter(*a):
            pass

        _put(utils, "_rebuild_tensor_v2", _rebuild_tensor_v2)
        _put(utils, "_rebuild_parameter", _rebuild_parameter)

        class T:
            def __init__(self, st, size):
                self.st, self.size = st, size

            def __reduce_ex__(self, p):
                stride = tuple(int(x) for x in [1] * len(self.size))
                return (utils._rebuild_tensor_v2,
                        (self.st, 0, self.size, stride, False, collections.OrderedDict()))

        class Param:
            def __init__(self, t):
                self.t = t

            def __reduce_ex__(self, p):
                return (utils._rebuild_parameter, (self.t, True, collections.OrderedDict()))

        class TP(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, Storage):
                    base = ("storage", obj.cls, obj.key, "cpu", obj.numel)
                    return base + (None,) if legacy else base
                return None

        sd = collections.OrderedDict()
        storages = []
        for i in range(ntensors):
            cls = HalfStorage if i % 2 else FloatStorage
            st = Storage(str(i), cls, 4 * (i + 1), 2 if i % 2 else 4)
            storages.append(st)
            t = T(st, (2, 2 * (i + 1)))
            sd[f"layer{i}.weight"] = Param(t) if param and i == 0 else t
        sd._metadata = collections.OrderedDict({"": {"version": 1}})
        if extra is not None:
            sd["extra"] = extra
        f = io.BytesIO()
        TP(f, protocol=proto).dump(sd)
        return f.getvalue(), storages


def numpy_rng_pickle(proto=2):
    """numpy.random state as accelerate saves it: _reconstruct, ndarray, dtype, bytes."""
    with fake_modules(["numpy", "numpy.core", "numpy.core.multiarray"]) as m:
        np, ma = m["numpy"], m["numpy.core.multiarray"]
        ndarray = _put(np, "ndarray", type("ndarray", (), {}))
        dtype = _put(np, "dtype", type("dtype", (), {}))

        def _reconstruct(*a):
            pass

        _put(ma, "_reconstruct", _reconstruct)

        class D:
            def __reduce__(self):
                return (dtype, ("u4", False, True), (3, "<", None, None, None, -1, -1, 0))

        class A:
            def __reduce__(self):
                return (_reconstruct, (ndarray, (0,), b"b"),
                        (1, (4,), D(), False, bytes(range(16))))

        return pickle.dumps(("MT19937", A(), 624, 0, 0.0), protocol=proto)


def joblib_pickle(proto=2, arrays=((3, 4),), object_payload=None):
    """joblib.dump-like stream: NumpyArrayWrapper objects followed by raw array bytes."""
    with fake_modules(["numpy", "joblib", "joblib.numpy_pickle"]) as m:
        np, jnp = m["numpy"], m["joblib.numpy_pickle"]
        ndarray = _put(np, "ndarray", type("ndarray", (), {}))
        dtype = _put(np, "dtype", type("dtype", (), {}))
        Wrapper = _put(jnp, "NumpyArrayWrapper", type("NumpyArrayWrapper", (), {}))

        class D:
            def __init__(self, code):
                self.code = code

            def __reduce__(self):
                return (dtype, (self.code, False, True), (3, "<", None, None, None, -1, -1, 0))

        class Arr:
            def __init__(self, shape, code="f8", itemsize=8, obj=None):
                self.shape, self.code, self.itemsize, self.obj = shape, code, itemsize, obj

        class JP(pickle._Pickler):
            def __init__(self, f, p):
                super().__init__(f, protocol=p)
                self.f = f

            def save(self, obj, save_persistent_id=True):
                if not isinstance(obj, Arr):
                    return super().save(obj, save_persistent_id)
                w = Wrapper()
                w.subclass, w.shape, w.order = ndarray, obj.shape, "C"
                w.dtype, w.allow_mmap = D(obj.code), False
                if obj.obj is None:
                    w.numpy_array_alignment_bytes = 16
                super().save(w)
                if self.proto >= 4:
                    self.framer.commit_frame(force=True)
                if obj.obj is not None:
                    self.f.write(obj.obj)
                    return
                pos = self.f.tell()
                pad = 16 - (pos + 1) % 16
                self.f.write(bytes([pad]) + b"\xff" * pad)
                n = obj.itemsize
                for d in obj.shape:
                    n *= d
                self.f.write(bytes((i * 7) & 0xFF for i in range(n)))

        f = io.BytesIO()
        objs = {f"a{i}": Arr(s) for i, s in enumerate(arrays)}
        if object_payload is not None:
            objs["obj"] = Arr((2,), "O8", 8, object_payload)
        objs["meta"] = {"n": len(arrays)}
        JP(f, proto).dump(objs)
        return f.getvalue()


# ---------------------------------------------------------------- zip writer

def mkzip(entries, prefix=b"", suffix=b"", align=0, count=None, comment=b"", gap=b""):
    """entries: dicts with name, data and optional local_name, flags, method, crc, lho_delta."""
    out = bytearray(prefix)
    cen = []
    for e in entries:
        data, method = e["data"], e.get("method", 0)
        payload = zlib.compress(data)[2:-4] if method == 8 else data
        crc = e.get("crc", zlib.crc32(data))
        flags = e.get("flags", 0)
        name = e["name"].encode()
        lname = e.get("local_name", e["name"]).encode()
        out += gap if cen else b""
        off = len(out)
        extra = b""
        if align:
            pad = (-(off + 30 + len(lname) + 4)) % align
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc,
                           len(payload), len(data) + e.get("usize_delta", 0), len(lname), len(extra)) + lname + extra + payload
        cen.append((name, flags, method, crc, len(payload) + e.get("csize_delta", 0),
                    len(data) + e.get("usize_delta", 0), off + e.get("lho_delta", 0)))
    cd = len(out)
    for name, flags, method, crc, cs, us, off in cen:
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21, crc,
                           cs, us, len(name), 0, 0, 0, 0, 0, off) + name
    n = len(cen) if count is None else count
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(out) - cd, cd, len(comment))
    return bytes(out + comment + suffix)


def torch_zip(pkl=None, storages=None, archive="archive", extra=(), align=64, **kw):
    return mkzip(torch_zip_entries(pkl, storages, archive, extra), align=align, **kw)


def torch_zip_entries(pkl=None, storages=None, archive="archive", extra=()):
    if pkl is None:
        pkl, storages = torch_pickle()
    ents = [{"name": f"{archive}/data.pkl", "data": pkl}]
    ents += [{"name": f"{archive}/byteorder", "data": b"little"}]
    for st in storages or []:
        ents.append({"name": f"{archive}/data/{st.key}", "data": bytes(st.numel * st.elsize)})
    ents += [{"name": f"{archive}/version", "data": b"3\n"},
             {"name": f"{archive}/.data/serialization_id", "data": b"1234567890123456789012345678901234567890"}]
    ents += list(extra)
    return ents


def pyzip(members, compression=zipfile.ZIP_STORED, **kw):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", compression, **kw) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            zi.compress_type = compression
            z.writestr(zi, data, compresslevel=kw.get("compresslevel"))
    return f.getvalue()


def legacy_torch(data_pkl=None, sys_info=None, magic=None, tail_extra=b""):
    pkl, storages = torch_pickle(proto=2, legacy=True) if data_pkl is None else data_pkl
    out = magic if magic is not None else pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += sys_info if sys_info is not None else pickle.dumps(
        {"protocol_version": 1001, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    out += pkl
    out += pickle.dumps(sorted(s.key for s in storages), protocol=2)
    for s in sorted(storages, key=lambda s: s.key):
        out += struct.pack("<q", s.numel) + bytes(s.numel * s.elsize)
    return out + tail_extra


# ---------------------------------------------------------------- other formats

def npy(descr, shape, data, version=1, fortran=False):
    h = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, tuple(shape))
    pre = 10 if version == 1 else 12
    h += " " * ((64 - (pre + len(h) + 1) % 64) % 64) + "\n"
    ln = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + h.encode() + data


def h5_keras(config, sb=0, userblock=0, continuation=False, vlen=False, attr_name="model_config", dense=None):
    """A minimal HDF5 file as the scanner reads it: superblock (version 0, or 2 with a version 2
    object header), the root group's object header, and a string attribute holding the Keras model
    config (fixed-length, or variable-length in a global heap collection).  Not loadable by the
    HDF5 library (no symbol table, no checksums); the scanner does not need more.
    dense=b"...": the header names dense attribute storage (an Attribute Info message) instead,
    and those bytes follow the header, as a fractal heap object would."""
    value = config if isinstance(config, bytes) else json.dumps(config).encode()
    pad8 = lambda b: b + bytes(-len(b) % 8)
    sb_len = 96 if sb == 0 else 48
    root = sb_len
    undef = 0xFFFFFFFFFFFFFFFF
    if vlen:
        dt = bytes([0x19, 0x01, 0, 0]) + struct.pack("<I", 16) + bytes([0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0])
    else:
        dt = bytes([0x13, 0, 0, 0]) + struct.pack("<I", len(value))
    name = attr_name.encode() + b"\0"

    def attr(data):
        if sb == 0:
            ds = bytes([1, 0, 0, 0, 0, 0, 0, 0])
            return (struct.pack("<BBHHH", 1, 0, len(name), len(dt), len(ds)) + pad8(name) + pad8(dt) + pad8(ds)
                    + data)
        ds = bytes([2, 0, 0, 0])
        return struct.pack("<BBHHHB", 3, 0, len(name), len(dt), len(ds), 0) + name + dt + ds + data

    def msgs(items):
        if sb == 0:
            return b"".join(struct.pack("<HHB3x", t, len(pad8(d)), 0) + pad8(d) for t, d in items)
        return b"".join(struct.pack("<BHB", t, len(d), 0) + d for t, d in items)

    def header(body):
        if sb == 0:
            return struct.pack("<BBHII4x", 1, 0, 1, 1, len(body)) + body
        return b"OHDR" + bytes([2, 0x02]) + struct.pack("<I", len(body)) + body + bytes(4)

    # Attribute bytes depend on the heap address for vlen; lay out: root header, [continuation
    # block], [global heap].
    def build(heap_addr, cont_addr):
        if dense is not None:
            return header(msgs([(0x15, struct.pack("<BBQQ", 0, 0, heap_addr, undef))])), b""
        data = struct.pack("<IQI", len(value), heap_addr, 1) if vlen else value
        a = attr(data)
        if continuation:
            block = msgs([(0x0C, a)])
            if sb != 0:
                block = b"OCHK" + block + bytes(4)
            body = msgs([(0x10, struct.pack("<QQ", cont_addr, len(block)))])
            return header(body), block
        return header(msgs([(0x0C, a)])), b""

    hdr, block = build(0, 0)
    cont_addr = root + len(hdr)
    heap_addr = cont_addr + len(block)
    hdr, block = build(heap_addr, cont_addr)
    heap = dense or b""
    if vlen:
        obj = struct.pack("<HH4xQ", 1, 1, len(value)) + pad8(value)
        heap = b"GCOL" + bytes([1, 0, 0, 0]) + struct.pack("<Q", 16 + len(obj) + 16) + obj + bytes(16)
    eof = root + len(hdr) + len(block) + len(heap)
    base = userblock
    if sb == 0:
        sup = (b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0)
               + struct.pack("<QQQQ", base, undef, eof, undef) + struct.pack("<QQII16x", 0, root, 0, 0))
    else:
        sup = (b"\x89HDF\r\n\x1a\n" + bytes([2, 8, 8, 0]) + struct.pack("<QQQQ", base, undef, eof, root)
               + bytes(4))
    assert len(sup) == sb_len
    return bytes(userblock) + sup + hdr + block + heap


def npy_object(payload=None):
    """An object array as numpy writes it (a protocol-3 pickle after the header)."""
    if payload is None:
        payload = numpy_rng_pickle(proto=3)
    return npy("|O", (2,), payload)


def safetensors(tensors, meta=None, raw_header=None, data=None, pad=True, lead=b""):
    hdr = {}
    if meta is not None:
        hdr["__metadata__"] = meta
    off = 0
    blob = b""
    for name, dt, shape, nbytes in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nbytes]}
        off += nbytes
        blob += bytes((i * 31) & 0xFF for i in range(nbytes))
    h = raw_header if raw_header is not None else lead + json.dumps(hdr).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + (blob if data is None else data)


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf(kv, tensors, align=32, version=3, counts=None):
    out = b"GGUF" + struct.pack("<I", version)
    nt, nk = counts if counts else (len(tensors), len(kv))
    out += struct.pack("<QQ", nt, nk)
    for k, t, v in kv:
        out += gguf_str(k) + struct.pack("<I", t)
        if t == 8:
            out += gguf_str(v)
        elif t == 4:
            out += struct.pack("<I", v)
        elif t == 9:
            et, items = v
            out += struct.pack("<IQ", et, len(items))
            out += b"".join(gguf_str(i) if et == 8 else struct.pack("<i", i) for i in items)
    for name, dims, typ, off in tensors:
        out += gguf_str(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, off)
    out += b"\0" * ((-len(out)) % align)
    return out


def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def pb(field, value):
    if isinstance(value, int):
        return pb_varint(field << 3) + pb_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(value)) + value


def onnx_model(locations=(), raw=False, sub_location=None):
    inits = b""
    for i, loc in enumerate(locations):
        t = pb(1, 4) + pb(2, 1) + pb(8, f"w{i}")
        t += pb(13, pb(1, "location") + pb(2, loc)) + pb(13, pb(1, "offset") + pb(2, "0"))
        t += pb(14, 1)
        inits += pb(5, t)
    if raw:
        inits += pb(5, pb(1, 2) + pb(2, 1) + pb(8, "b") + pb(9, b"\0" * 8))
    node = pb(1, "x") + pb(2, "y") + pb(4, "Add")
    if sub_location:
        t = pb(8, "c") + pb(13, pb(1, "location") + pb(2, sub_location)) + pb(14, 1)
        sub = pb(5, t)
        node += pb(5, pb(1, "then_branch") + pb(6, sub) + pb(20, 5))
    graph = pb(1, node) + pb(2, "g") + inits
    return pb(1, 8) + pb(2, "pytorch") + pb(7, graph) + pb(8, pb(2, 17))


def keras_zip(layers):
    cfg = {"module": "keras", "class_name": "Sequential",
           "config": {"name": "seq", "layers": layers}, "registered_name": None}
    return pyzip([("metadata.json", json.dumps({"keras_version": "3.5.0"}).encode()),
                  ("config.json", json.dumps(cfg).encode()),
                  ("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))])


DENSE = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"units": 4, "activation": "relu",
                    "kernel_initializer": {"module": "keras.initializers",
                                           "class_name": "GlorotUniform", "config": {"seed": None},
                                           "registered_name": None}}}

BENIGN_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SSTI = "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ cycler.__init__.__globals__.os.popen('id').read() }}"


# ---------------------------------------------------------------- the corpus

def corpus():
    out = []

    def add(name, data, expect, ids=(), malicious=None, ref=""):
        if malicious is None:
            malicious = expect != "allow"
        out.append(Sample(name, data, expect, set(ids), malicious, ref))

    # ---- benign pickles: plain objects, every protocol
    plain = {"ints": [0, 1, -1, 255, 65535, 2 ** 31, 2 ** 70, -(2 ** 70)], "f": 1.5, "s": "héllo",
             "b": b"\x00\x80bytes", "t": (1, (2, 3)), "n": None, "yes": True,
             "nested": {"a": [{"b": "c"}] * 3}, "set": {1, 2}, "fs": frozenset({3}),
             "ba": bytearray(b"xy"), "c": complex(1, 2)}
    for p in range(6):
        add(f"benign/plain_p{p}.pkl", pickle.dumps(plain, protocol=p), "allow", ref="plain objects")
        add(f"benign/od_p{p}.pkl", pickle.dumps(collections.OrderedDict(a=[1, 2], b="x"), protocol=p),
            "allow", ref="OrderedDict")
    add("benign/counter.pkl", pickle.dumps(collections.Counter("hello"), protocol=2), "allow")
    add("benign/big_list.pkl", pickle.dumps(list(range(20000)), protocol=4), "allow")
    add("benign/strings_p0.pkl", pickle.dumps(["a\\b", "x\ny", "\u20ac"] * 10, protocol=0), "allow")
    for p in (2, 3, 4, 5):
        pkl, _ = torch_pickle(proto=p, param=True)
        add(f"benign/torch_statedict_p{p}.pkl", pkl, "allow", ref="2.4 torch pickle")
    add("benign/rng_state.pkl", numpy_rng_pickle(2), "allow", ref="accelerate RNG state")
    add("benign/rng_state_p4.pkl", numpy_rng_pickle(4), "allow")
    add("benign/model.joblib", joblib_pickle(2, ((3, 4), (5,))), "allow", ref="joblib inline arrays")
    add("benign/model_p4.joblib", joblib_pickle(4, ((3, 4), (7, 2), (1,))), "allow")

    # ---- benign containers
    pkl, sts = torch_pickle(proto=2, ntensors=4, param=True)
    add("benign/pytorch_model.bin", torch_zip(pkl, sts, archive="pytorch_model"), "allow",
        ref="1.6 torch zip")
    add("benign/archive_noalign.pt", torch_zip(*torch_pickle(proto=2), align=0), "allow")
    add("benign/torch_p4.pt", torch_zip(*torch_pickle(proto=4)), "allow")
    add("benign/torch_pyzip.pt", pyzip([("archive/data.pkl", pkl)] +
                                        [(f"archive/data/{s.key}", bytes(s.numel * s.elsize)) for s in sts] +
                                        [("archive/version", b"3\n")]), "allow")
    add("benign/legacy.bin", legacy_torch(), "allow", ref="legacy torch")
    add("benign/arr_f4.npy", npy("<f4", (3, 4), bytes(48)), "allow")
    add("benign/arr_v2.npy", npy("<i8", (2,), bytes(16), version=2), "allow")
    add("benign/arr_u.npy", npy("<U5", (2,), bytes(40)), "allow")
    add("benign/arr_bool.npy", npy("|b1", (5,), bytes(5)), "allow")
    add("benign/arr_struct.npy", npy([("x", "<f4"), ("y", "<i2")], (2,), bytes(12)), "allow")
    add("benign/arrays.npz", pyzip([("a.npy", npy("<f8", (4,), bytes(32))),
                                    ("b.npy", npy("<i4", (2, 2), bytes(16)))]), "allow")
    add("benign/model.keras", keras_zip([DENSE, DENSE]), "allow", ref="keras")
    add("benign/zip64.zip", pyzip([("a.txt", b"hello"), ("b.json", b"{}")],
                                  allowZip64=True), "allow")
    add("benign/nested.zip", pyzip([("inner.zip", pyzip([("x.txt", b"x")])), ("r.md", b"# r")]),
        "allow")
    tensors = [("tok_embd.weight", [4096, 32], 0, 0), ("blk.0.attn_q.weight", [256, 4], 8, 4096 * 32 * 4)]
    kv = [("general.architecture", 8, "llama"), ("general.alignment", 4, 32),
          ("tokenizer.ggml.tokens", 9, (8, ["<s>", "</s>", "a", "b"])),
          ("tokenizer.chat_template", 8, BENIGN_TEMPLATE)]
    body = gguf(kv, tensors)
    add("benign/model.gguf", body + bytes(4096 * 32 * 4 + 256 * 4 // 32 * 34), "allow", ref="gguf")
    add("benign/model.onnx", onnx_model(["model.onnx.data", "weights/w.bin"], raw=True), "allow")
    add("benign/inline.onnx", onnx_model(raw=True), "allow")
    add("benign/model.safetensors", safetensors([("a", "F32", [2, 2], 16), ("b", "BF16", [3], 6),
                                                 ("c", "I64", [], 8)], meta={"format": "pt"}), "allow")
    add("benign/empty_tensor.safetensors", safetensors([("e", "F16", [0, 4], 0), ("f", "U8", [3], 3)]),
        "allow")
    add("benign/dtypes.safetensors", safetensors([(f"t{i}", d, [2], n) for i, (d, n) in enumerate(
        [("BOOL", 2), ("I8", 2), ("F8_E5M2", 2), ("F8_E4M3", 2), ("I16", 4), ("U16", 4),
         ("F16", 4), ("I32", 8), ("U32", 8), ("F64", 16), ("U64", 16), ("C64", 16)])]), "allow")
    add("benign/unpadded.safetensors", safetensors([("a", "F32", [1], 4)], pad=False), "allow")
    add("benign/leading_ws.safetensors", safetensors([("a", "F32", [1], 4)], lead=b"  "), "allow")
    add("benign/README.md", b"# My model\n\nA model card.\n", "allow")
    add("benign/config.json", json.dumps({"architectures": ["Llama"], "hidden_size": 64}).encode(), "allow")
    add("benign/tokenizer_config.json", json.dumps({"chat_template": BENIGN_TEMPLATE}).encode(), "allow")
    add("benign/notes.txt", b"compute: fast\ninference: yes\n", "allow", ref="text starting with 'c'")
    add("benign/weights.bin", bytes((i * 131 + 7) & 0xFF for i in range(4096)), "allow",
        ref="onnx external data (opaque)")
    add("benign/data.csv.gz", b"\x1f\x8b\x08\x00" + bytes(30), "allow")

    # ---- E1 Python-2 spellings
    add("E1/builtin_eval_p0.pkl", call0("__builtin__", "eval", "1+1"), "block", {"pickle.global.denied"}, ref="E1")
    add("E1/commands_getoutput.pkl", call2("commands", "getoutput"), "block", {"pickle.global.denied"}, ref="E1")
    add("E1/cPickle_loads.pkl", call2("cPickle", "loads", "x"), "block", {"pickle.global.denied"}, ref="E1")
    # ---- E2 OS aliases
    for mod in ("os", "posix", "nt"):
        add(f"E2/{mod}_system.pkl", call2(mod, "system"), "block", {"pickle.global.denied"}, ref="E2")
    add("E2/subprocess_popen_p4.pkl", call4("subprocess", "Popen"), "block", {"pickle.global.denied"}, ref="E2")
    # ---- E3 other call opcodes
    add("E3/inst.pkl", b"(" + S(ECHO) + b"iposix\nsystem\n.", "block", {"pickle.global.denied"}, ref="E3 INST")
    add("E3/obj.pkl", b"(" + G("posix", "system") + S(ECHO) + b"o.", "block", {"pickle.global.denied"}, ref="E3 OBJ")
    add("E3/obj_popped.pkl", P2 + b"(" + G("posix", "system") + S(ECHO) + b"o0N.", "block",
        {"pickle.global.denied"}, ref="E3 OBJ result POPped")
    add("E3/newobj.pkl", P2 + G("subprocess", "Popen") + XU(ECHO) + b"\x85\x81.", "block",
        {"pickle.global.denied"}, ref="E3 NEWOBJ")
    add("E3/newobj_ex.pkl", P4 + U("subprocess") + U("Popen") + b"\x93" + U(ECHO) + b"\x85}\x92.",
        "block", {"pickle.global.denied"}, ref="E3 NEWOBJ_EX")
    # ---- E4 memo indirection and decoys
    add("E4/memo_decoy.pkl", P4 + U("posix") + b"\x94" + U("system") + b"\x94" + b"00" +
        U("collections") + U("OrderedDict") + b"00" + b"h\x00h\x01\x93" + U(ECHO) + b"\x85R.",
        "block", {"pickle.global.denied"}, ref="E4")
    add("E4/memoize_after_put.pkl", P4 + U("posix") + b"q\x05" + U("system") + b"\x94" + b"00" +
        b"h\x05h\x01\x93" + U(ECHO) + b"\x85R.", "block", {"pickle.global.denied"},
        ref="1.2 MEMOIZE index = filled slots")
    add("E4/binput_p2.pkl", P2 + XU("builtins") + b"q\x07" + XU("exec") + b"q\x08" + b"00" +
        b"h\x07h\x08\x93" + XU("pass") + b"\x85R.", "block", {"pickle.global.denied"}, ref="E4")
    add("E4/text_put_get.pkl", S("posix") + b"p1\n" + S("system") + b"p2\n00g1\ng2\n\x93(" + S(ECHO) + b"tR.",
        "block", {"pickle.global.denied"}, ref="E4 text PUT/GET")
    # ---- E5 non-string / computed operands
    add("E5/int_operand.pkl", P4 + b"K\x01" + U("system") + b"\x93.", "block",
        {"pickle.stack_global.operand"}, ref="E5")
    add("E5/bytes_operand.pkl", P4 + BB(b"posix") + U("system") + b"\x93" + U(ECHO) + b"\x85R.",
        "block", {"pickle.stack_global.operand"}, ref="E5")
    add("E5/computed_operand.pkl", P4 + U("builtins") + U("str") + b"\x93" + U("posix") + b"\x85R" +
        U("system") + b"\x93" + U(ECHO) + b"\x85R.", "block", {"pickle.stack_global.operand"}, ref="E5")
    add("E5/global_as_module.pkl", P4 + U("collections") + U("OrderedDict") + b"\x93" + U("x") + b"\x93.",
        "block", {"pickle.stack_global.operand"}, ref="E5 sys_module_override")
    # ---- E6 STRING operands, no PROTO
    add("E6/string_operands.pkl", S("posix") + S("system") + b"\x93(" + S(ECHO) + b"tR.", "block",
        {"pickle.global.denied"}, ref="E6")
    add("E6/binstring_operands.pkl", b"U\x05posixU\x06system\x93(" + S(ECHO) + b"tR.", "block",
        {"pickle.global.denied"}, ref="E6")
    add("E6/escaped_string.pkl", b"S'po\\x73ix'\nS'sy\\163tem'\n\x93(" + S(ECHO) + b"tR.", "block",
        {"pickle.global.denied"}, ref="E6 escapes")
    add("E6/unicode_escape.pkl", b"V\\u0070osix\nVsystem\n\x93(" + S(ECHO) + b"tR.", "block",
        {"pickle.global.denied"}, ref="E6 raw-unicode-escape")
    # ---- E7 payload then garbage
    add("E7/payload_then_garbage.pkl", P2 + G("posix", "system") + XU(ECHO) + b"\x85R\xff\xfe\xfd", "block",
        {"pickle.global.denied"}, ref="E7")
    add("E7/dangling_memo.pkl", P2 + G("posix", "system") + XU(ECHO) + b"\x85Rh\x63.", "block",
        {"pickle.global.denied", "pickle.memo_missing"}, ref="E7")
    add("E7/truncated.pkl", call2("posix", "system")[:-3], "block", {"pickle.global.denied"}, ref="E7")
    # ---- E8 several pickles
    add("E8/benign_then_evil.pkl", pickle.dumps({"a": 1}, protocol=2) + call2("posix", "system"), "block",
        {"pickle.multiple", "pickle.global.denied"}, ref="E8")
    add("E8/literal_then_evil.pkl", b"N." + call0("posix", "system"), "block", {"pickle.global.denied"}, ref="E8")
    # ---- E9 nested pickles
    inner = call2("posix", "system")
    add("E9/pickle_loads.pkl", P2 + G("_pickle", "loads") + BB(inner) + b"\x85R.", "block",
        {"pickle.global.denied", "pickle.nested"}, ref="E9")
    add("E9/hidden_bytes.pkl", P4 + b"}" + U("blob") + BB(inner) + b"s.", "block", {"pickle.nested"},
        ref="E9 nested in data")
    add("E9/torch_load_from_bytes.pkl", P2 + G("torch.storage", "_load_from_bytes") + BB(inner) + b"\x85R.",
        "block", {"pickle.global.denied"}, ref="E9")
    add("E9/codecs_nested.pkl", P2 + G("_codecs", "encode") + XU(inner.decode("latin1")) + XU("latin1") +
        b"\x86R.", "block", {"pickle.nested"}, ref="E9 via _codecs.encode")
    add("E9/numpy_load.pkl", call2("numpy", "load", "x.npy"), "block", {"pickle.global.denied"}, ref="E9")
    add("E9/joblib_load.pkl", call2("joblib", "load", "x"), "block", {"pickle.global.denied"}, ref="E9")
    # ---- E10 / E11 / E12 / E18 / E21 gadgets (allowlist decides; denylist names)
    gadgets = [
        ("runpy", "_run_code"), ("timeit", "timeit"), ("cProfile", "run"), ("profile", "run"),
        ("trace", "Trace.run"), ("bdb", "Bdb.run"), ("pdb", "run"), ("code", "InteractiveInterpreter.runcode"),
        ("doctest", "debug_script"), ("numpy.testing._private.utils", "runstring"),
        ("numpy.f2py.crackfortran", "getlincoef"), ("torch._dynamo.guards", "GuardBuilder.get"),
        ("torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression"),
        ("torch.jit.unsupported_tensor_ops", "execWrapper"), ("torch.utils.bottleneck.__main__", "run_cprofile"),
        ("torch.utils.collect_env", "run"), ("torch._inductor.codecache", "compile_file"),
        ("idlelib.pyshell", "ModifiedInterpreter.runcode"), ("lib2to3.pgen2.grammar", "Grammar.loads"),
        ("torch.utils._config_module", "ConfigModule.load_config"),
        ("torch.utils.data.datapipes.utils.decoder", "basichandlers"),
        ("uuid", "_get_command_stdout"), ("_osx_support", "_read_output"), ("_aix_support", "_read_cmd_output"),
        ("imaplib", "IMAP4_stream"), ("_pyrepl.pager", "pipe_pager"),
        ("test.support.script_helper", "assert_python_ok"), ("pydoc", "pipepager"), ("pty", "spawn"),
        ("venv", "create"), ("ensurepip", "_run_pip"), ("pip", "main"),
        ("asyncio.unix_events", "_UnixSubprocessTransport._start"), ("distutils.file_util", "write_file"),
        ("logging", "FileHandler"), ("_io", "FileIO"), ("io", "open"), ("urllib.request", "urlopen"),
        ("ssl", "get_server_certificate"), ("ctypes", "CDLL"), ("socket", "create_connection"),
        ("shutil", "rmtree"), ("webbrowser", "open"), ("builtins", "getattr"), ("builtins", "__import__"),
        ("builtins", "exec"), ("builtins", "compile"), ("builtins", "open"), ("builtins", "breakpoint"),
        ("operator", "attrgetter"), ("_operator", "itemgetter"), ("operator", "methodcaller"),
        ("operator", "call"), ("pydoc", "locate"), ("pkgutil", "resolve_name"),
        ("importlib", "import_module"), ("functools", "partial"), ("functools", "reduce"),
        ("types", "CodeType"), ("types", "FunctionType"), ("marshal", "loads"),
        ("cloudpickle.cloudpickle", "_make_function"), ("cloudpickle", "subimport"),
        ("pickle", "loads"), ("torch", "load"), ("torch.serialization", "load"),
        ("picklescan.scanner", "scan_pickle_bytes"), ("fickling", "load"), ("modelscan", "scan"),
        ("sys", "exit"), ("multiprocessing", "Process"), ("signal", "raise_signal"),
        ("transformers.models.auto.auto_factory", "getattribute_from_module"),
        ("transformers", "AutoModel.from_pretrained"), ("tempfile", "mkdtemp"),
    ]
    for i, (mod, name) in enumerate(gadgets):
        builder = (call0, call2, call4)[i % 3]
        if "." in name and builder is call0:
            builder = call4  # dotted names resolve at protocol >= 4
        ids = {"pickle.global.denied"}
        if "." in name:
            ids.add("pickle.global.dotted_name")
        add(f"gadgets/{mod}.{name}.pkl", builder(mod, name), "block", ids, ref="E10-E12 E18 E21")
    # unknown (not denylisted, not allowlisted): the allowlist still blocks
    for mod, name in [("evil_pkg", "Payload"), ("torch.nn.modules.linear", "Linear"),
                      ("numpy", "frombuffer"), ("collections", "defaultdict"), ("builtins", "list"),
                      ("copyreg", "_reconstructor")]:
        add(f"unknown/{mod}.{name}.pkl", call2(mod, name), "block", {"pickle.global.unknown"}, ref="E20 allowlist")
    # ---- E13 submodules, E14 dotted paths
    add("E13/os_path.pkl", call2("os.path", "join"), "block", {"pickle.global.denied"}, ref="E13")
    add("E13/asyncio_sub.pkl", call4("asyncio.unix_events", "_UnixSubprocessTransport"), "block",
        {"pickle.global.denied"}, ref="E13")
    add("E14/pathlib_os_system.pkl", call4("pathlib", "os.system"), "block",
        {"pickle.global.dotted_name", "pickle.global.denied"}, ref="E14")
    add("E14/future_ssl.pkl", call4("__future__", "_ssl.RAND_bytes", "x"), "block",
        {"pickle.global.dotted_name"}, ref="E14")
    add("E14/proto_switch.pkl", P2 + b"N0" + b"\x80\x04" + G("pathlib", "os.system") + XU(ECHO) + b"\x85R.",
        "block", {"pickle.proto.misplaced", "pickle.global.dotted_name"}, ref="E14 PROTO switch")
    add("E14/collections_dotted.pkl", call4("collections", "OrderedDict.fromkeys"), "block",
        {"pickle.global.dotted_name"}, ref="E14 allowlisted module, dotted name")
    # unicode tricks: not the real names, never allowlisted
    add("unicode/fullwidth_os.pkl", call4("\uff4f\uff53", "system"), "block", {"pickle.global.unknown"}, ref="unicode")
    add("unicode/cyrillic_o.pkl", call4("p\u043esix", "system"), "block", {"pickle.global.unknown"}, ref="unicode")
    add("unicode/torch_lookalike.pkl", call4("t\u043erch._utils", "_rebuild_tensor_v2"), "block",
        {"pickle.global.unknown"}, ref="unicode")
    add("unicode/nul_in_name.pkl", call4("collections", "OrderedDict\x00x"), "block", {"pickle.global.unknown"})
    # ---- E15 PROTO
    add("E15/duplicate_proto.pkl", P2 + b"\x80\x02N.", "block", {"pickle.proto.misplaced"}, ref="E15")
    add("E15/misplaced_proto.pkl", b"N0\x80\x02N.", "block", {"pickle.proto.misplaced"}, ref="E15")
    # ---- E16 EXT
    add("E16/ext1.pkl", P2 + b"\x82\x01" + XU(ECHO) + b"\x85R.", "block", {"pickle.ext"}, ref="E16")
    add("E16/ext2.pkl", P2 + b"\x83\x01\x02" + b").", "block", {"pickle.ext"}, ref="E16")
    add("E16/ext4.pkl", P2 + b"\x84\x01\x02\x03\x04" + b").", "block", {"pickle.ext"}, ref="E16")
    # ---- E17 frames
    hidden = G("posix", "system") + S(ECHO) + b"\x85R."
    add("E17/frame_straddle.pkl", P4 + b"\x95" + struct.pack("<Q", 2) + b"NB" +
        struct.pack("<I", len(hidden)) + hidden, "block", {"pickle.frame.violation"}, ref="E17")
    add("E17/global_straddle.pkl", P4 + b"\x95" + struct.pack("<Q", 5) + hidden + b".", "block",
        {"pickle.frame.violation"}, ref="E17")
    add("E17/nested_frame.pkl", P4 + b"\x95" + struct.pack("<Q", 20) + b"\x95" + struct.pack("<Q", 1) +
        b"N." + bytes(10), "block", {"pickle.frame.violation"}, ref="E17")
    add("E17/frame_overrun.pkl", P4 + b"\x95" + struct.pack("<Q", 1 << 40) + b"N.", "block",
        {"pickle.frame.violation"}, ref="E17")
    # ---- E19 mutation of imported objects
    add("E19/build_on_global.pkl", P2 + G("torch._utils", "_rebuild_tensor_v2") + b"}" + XU("__code__") +
        b"Ns" + b"b.", "block", {"pickle.build.global"}, ref="E19")
    add("E19/setitem_on_global.pkl", P2 + G("collections", "OrderedDict") + XU("k") + XU("v") + b"s.",
        "block", {"pickle.mutate.global"}, ref="E19")
    add("E19/indirect_call.pkl", P2 + G("collections", "OrderedDict") + b")R)R.", "block",
        {"pickle.call.indirect"}, ref="call of a call result")
    add("E19/codecs_other_encoding.pkl", P2 + G("_codecs", "encode") + XU("x") + XU("rot13") + b"\x86R.",
        "block", {"pickle.call.codecs"}, ref="_codecs.encode judged")
    add("persid/text_persid.pkl", b"P0\n.", "block", {"pickle.persid.text"})
    add("persid/bad_storage_class.pkl", P2 + b"(" + XU("storage") + G("posix", "system") + XU("0") +
        XU("cpu") + b"K\x01tQ.", "block", {"pickle.persid.class", "pickle.global.denied"})
    add("oob/next_buffer.pkl", P5 + b"\x97.", "block", {"pickle.oob_buffer"})
    # ---- E22 expansion / DoS: bounded, never executable
    add("E22/huge_binbytes8.pkl", P4 + b"\x8e" + struct.pack("<Q", 1 << 62) + b"xx", "warn",
        {"pickle.malformed"}, malicious=True, ref="E22")
    add("E22/huge_long4.pkl", P2 + b"\x8b" + struct.pack("<i", 1 << 30) + b"xx", "warn", {"pickle.malformed"},
        malicious=True, ref="E22")
    add("E22/dup_bomb.pkl", P4 + b"N" + b"2" * 200000 + b".", "block", {"pickle.limit"}, ref="E22 stack")
    add("E22/payload_then_dup.pkl", call2("posix", "system")[:-1] + b"2" * 150000 + b".", "block",
        {"pickle.global.denied"}, ref="E22")
    add("malformed/unknown_opcode_after_import.pkl", P2 + G("collections", "OrderedDict") + b"\xff.", "block",
        {"pickle.opcode_unknown"})
    add("malformed/underflow_after_import.pkl", P2 + G("collections", "OrderedDict") + b"0" * 3 + b".",
        "block", {"pickle.stack_underflow"})
    add("malformed/header_garbage.pkl", P2 + b"\xff\xfe", "warn", {"pickle.malformed"}, malicious=True)

    # ---- container and polyglot tricks (security.md 1.6)
    evil_pkl = P2 + G("posix", "system") + XU(ECHO) + b"\x85R."
    good_pkl, good_st = torch_pickle()
    add("zip/evil_data_pkl.pt", torch_zip(evil_pkl, []), "block", {"pickle.global.denied"}, ref="torch zip")
    add("zip/evil_p4_data_pkl.pt", torch_zip(call4("builtins", "exec", "pass"), []), "block",
        {"pickle.global.denied"})
    ents = [{"name": "archive/data.pkl", "data": evil_pkl, "local_name": "archive/data.pkX"}]
    add("zip/name_mismatch.pt", mkzip(ents), "block", {"zip.name_mismatch"}, ref="CVE-2025-1944")
    for bit in (0x1, 0x20, 0x40):
        add(f"zip/flag_{bit:#x}.pt", mkzip([{"name": "archive/data.pkl", "data": evil_pkl, "flags": bit}]),
            "block", {"zip.flags"} if bit != 1 else {"zip.encrypted"}, ref="CVE-2025-1945")
    add("zip/bad_crc.pt", mkzip([{"name": "archive/data.pkl", "data": evil_pkl, "crc": 1234}]), "block",
        {"zip.crc_mismatch", "pickle.global.denied"}, ref="CVE-2025-10156")
    add("zip/pickle_wrong_ext.pt", torch_zip(good_pkl, good_st, extra=[
        {"name": "archive/data.txt", "data": call0("posix", "system")}]), "block",
        {"pickle.global.denied"}, ref="CVE-2025-1889")
    add("zip/generic_wrong_ext.zip", pyzip([("model/weights.txt", call0("posix", "system"))]), "block",
        {"pickle.global.denied"}, ref="CVE-2025-1889")
    add("zip/duplicate_data_pkl.pt", mkzip([{"name": "archive/data.pkl", "data": evil_pkl},
                                            {"name": "archive/data.pkl", "data": good_pkl}]), "block",
        {"zip.duplicate_member", "torch.multiple_data_pkl", "pickle.global.denied"}, ref="duplicate names")
    # DEFLATE members are inflated (miniz and zipfile do) and judged by their contents.
    add("zip/deflated_evil_data_pkl.pt", mkzip([{"name": "archive/data.pkl", "data": evil_pkl, "method": 8}]),
        "block", {"pickle.global.denied"}, ref="DEFLATE data.pkl (byte-grep scanners miss it)")
    add("zip/deflated_pyzip_evil.pt", pyzip([("archive/data.pkl", evil_pkl)], zipfile.ZIP_DEFLATED), "block",
        {"pickle.global.denied"})
    deflated_torch = [dict(e, method=8) for e in torch_zip_entries(good_pkl, good_st)]
    add("zip/deflated_torch.pt", mkzip(deflated_torch, align=64), "allow", malicious=False,
        ref="torch archive with every record deflated")
    add("zip/deflated_evil_member.zip", pyzip([("model/notes.txt", b"notes"), ("model/w.bin", call0("posix", "system"))],
                                              zipfile.ZIP_DEFLATED), "block", {"pickle.global.denied"},
        ref="CVE-2025-1889, deflated")
    bad = bytearray(mkzip([{"name": "archive/data.pkl", "data": good_pkl, "method": 8}]))
    bad[30 + len("archive/data.pkl")] |= 0x06  # first block header: reserved block type 3
    add("zip/bad_deflate.pt", bytes(bad), "block", {"zip.bad_deflate"}, ref="invalid DEFLATE stream")
    add("zip/bad_crc_member.zip", mkzip([{"name": "a.txt", "data": b"text " * 1000, "crc": 99}]), "block",
        {"zip.crc_mismatch"}, ref="CRC of a member scanned by content")
    add("zip/bad_crc_deflated.zip", mkzip([{"name": "a.txt", "data": b"text " * 1000, "crc": 99, "method": 8}]),
        "block", {"zip.crc_mismatch"}, ref="CRC of the inflated bytes")
    add("zip/deflate_longer.pt", mkzip([{"name": "archive/data.pkl", "data": good_pkl, "method": 8,
                                         "usize_delta": -1}]), "block", {"zip.bad_deflate"},
        ref="inflates to more than declared")
    add("zip/deflate_shorter.pt", mkzip([{"name": "archive/data.pkl", "data": good_pkl, "method": 8,
                                          "usize_delta": 1}]), "block", {"zip.bad_deflate"},
        ref="inflates to less than declared")
    text = b"".join(b"%d lines of text, again and again; " % i for i in range(4000))
    for level in (0, 1, 6, 9):
        add(f"zip/deflate_level{level}.zip", pyzip([("a.txt", text), ("b.dat", b"random bytes: " + hashlib.shake_256(b"deflate%d" % level).digest(70_000)),
                                                    ("c.txt", b"z" * 100_000), ("d.txt", b"")],
                                                   zipfile.ZIP_DEFLATED, compresslevel=level), "allow",
            malicious=False, ref="stored, fixed and dynamic blocks; CRC must match after inflating")
    add("zip/suffix_data.pt", torch_zip(good_pkl, good_st, suffix=b"TRAILING"), "block", {"zip.trailing_data"})
    add("zip/gap.zip", mkzip([{"name": "a.txt", "data": b"a"}, {"name": "b.txt", "data": b"b"}],
                             gap=b"HIDDEN" + evil_pkl), "block", {"zip.gap"}, ref="bytes outside entries")
    lh_b = mkzip([{"name": "b.txt", "data": b"bbb"}])[:38]
    add("zip/overlap.zip", mkzip([{"name": "a.txt", "data": lh_b},
                                 {"name": "b.txt", "data": b"bbb", "lho_delta": -38}]), "block",
        {"zip.overlap"}, ref="entries sharing bytes")
    for nm in ("../evil.pkl", "/abs/x.txt", "C:\\x.txt", "a/../../b.txt"):
        add(f"zip/traversal_{len(out)}.zip", mkzip([{"name": nm, "data": b"x"}]), "block",
            {"zip.path_traversal"}, ref="path traversal")
    add("zip/count_mismatch.zip", mkzip([{"name": "a.txt", "data": b"a"}], count=2), "block",
        {"zip.count_mismatch"})
    add("zip/comment_lie.zip", mkzip([{"name": "a.txt", "data": b"a"}], comment=b"c")[:-1], "block",
        {"zip.trailing_data"})
    add("zip/nested_evil.zip", pyzip([("inner.zip", pyzip([("x.pkl", evil_pkl)]))]), "block",
        {"pickle.global.denied"}, ref="zip in zip")
    add("zip/too_deep.zip", pyzip([("i1.zip", pyzip([("i2.zip", pyzip([("x.txt", b"x")]))]))]), "block",
        {"zip.too_deep"})
    add("zip/missing_storage.pt", torch_zip(good_pkl, good_st[:1]), "warn", {"torch.missing_storage"},
        malicious=False, ref="persid without record")
    add("zip/second_pkl_member.pt", torch_zip(good_pkl, good_st, extra=[
        {"name": "archive/extra.pkl", "data": call4("builtins", "eval", "1")}]), "block",
        {"pickle.global.denied"}, ref="every .pkl member analysed")
    add("polyglot/pickle_plus_zip.pkl", evil_pkl + torch_zip(good_pkl, good_st), "block",
        {"pickle.global.denied", "pickle.trailing_data"}, ref="2.7 pickle-prefixed zip")
    add("polyglot/benign_pickle_plus_zip.pkl", pickle.dumps({"a": 1}, protocol=2) + torch_zip(good_pkl, good_st),
        "block", {"pickle.trailing_data"}, ref="polyglot")
    add("polyglot/prefix_keras.keras", b"JUNKJUNK" + keras_zip([DENSE]), "block", {"zip.prefix_data"},
        ref="zip not at offset 0")
    add("polyglot/safetensors_plus_zip.safetensors",
        safetensors([("a", "F32", [1], 4)]) + pyzip([("x.pkl", evil_pkl)]), "block",
        {"safetensors.trailing_data"}, ref="3.4 polyglot")

    # ---- legacy torch
    evil_legacy = P2 + b"}" + XU("w") + G("posix", "system") + XU(ECHO) + b"\x85Rs."
    add("legacy/evil_data.bin", legacy_torch(data_pkl=(evil_legacy, [])), "block", {"pickle.global.denied"})
    add("legacy/eval_magic.pt", legacy_torch(magic=call2("builtins", "eval", "0x1950a86a20f9469cfc6c")),
        "block", {"pickle.global.denied"}, ref="GHSA-97f8-7cmv-76j2")
    add("legacy/evil_sysinfo.bin", legacy_torch(sys_info=call2("posix", "system")), "block",
        {"pickle.global.denied", "torch_legacy.header_code"})
    add("legacy/trailing.bin", legacy_torch(tail_extra=b"EXTRA" * 4), "block", {"torch_legacy.trailing_data"})
    add("legacy/plain_pickle_as_bin.bin", call2("posix", "system"), "block", {"pickle.global.denied"},
        ref="CVE-2025-10155")

    # ---- joblib
    add("joblib/ndarraywrapper.joblib", call2("joblib.numpy_pickle_compat", "NDArrayWrapper", "x.npy"), "block",
        {"pickle.global.denied"})
    add("joblib/object_array_evil.joblib", joblib_pickle(2, ((2,),), object_payload=call2("posix", "system")),
        "block", {"pickle.global.denied"})
    add("joblib/compressed.joblib", b"\x78\x9c" + zlib.compress(call2("posix", "system"))[2:], "block",
        {"container.compressed_pickle"})
    add("joblib/gzip.pkl.gz", b"\x1f\x8b\x08\x00" + bytes(20), "block", {"container.compressed_pickle"})

    # ---- numpy
    add("npy/object_benign.npy", npy_object(), "block", {"npy.object_array"}, ref="allow_pickle needed")
    add("npy/object_evil.npy", npy_object(call2("posix", "system")), "block",
        {"npy.object_array", "pickle.global.denied"})
    add("npy/struct_object.npy", npy([("a", "<f4"), ("b", "|O")], (1,), numpy_rng_pickle(3)), "block",
        {"npy.object_array"})
    add("npy/trailing.npy", npy("<f4", (2,), bytes(8)) + evil_pkl, "block", {"npy.trailing_data"})
    add("npy/bad_header.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 20) + b"__import__('os')    ", "block",
        {"npy.malformed"})
    add("npy/object_member.npz", pyzip([("a.npy", npy("<f4", (1,), bytes(4))), ("b.npy", npy_object())]),
        "block", {"npy.object_array"})
    add("npy/deflated.npz", pyzip([("a.npy", npy("<f4", (4,), bytes(16)))], zipfile.ZIP_DEFLATED), "allow",
        malicious=False, ref="np.savez_compressed")
    add("npy/deflated_object.npz", pyzip([("a.npy", npy("<f4", (1,), bytes(4))),
                                          ("b.npy", npy_object(call2("posix", "system")))], zipfile.ZIP_DEFLATED),
        "block", {"npy.object_array", "pickle.global.denied"}, ref="np.savez_compressed of an object array")

    # ---- keras
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}}}
    add("keras/lambda.keras", keras_zip([DENSE, lam]), "block", {"keras.lambda", "keras.function"})
    add("keras/module_os.keras", keras_zip([{"module": "os", "class_name": "system",
                                               "config": {"command": ECHO}, "registered_name": None}]),
        "block", {"keras.module"}, ref="CVE-2025-1550")
    add("keras/tfsm.keras", keras_zip([{"module": "keras.layers", "class_name": "TFSMLayer",
                                        "config": {"filepath": "/tmp/x"}}]), "block", {"keras.tfsmlayer"})
    k2_dense = {"class_name": "Dense", "config": {"name": "d", "units": 4}}
    k2_lambda = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAA", None, None],
                                                   "function_type": "lambda"}}
    seq = lambda layers: {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    add("h5/clean.h5", h5_keras(seq([k2_dense])), "allow", {"hdf5.keras_config"}, malicious=False,
        ref="Keras 2 .h5, model_config read")
    add("h5/lambda.h5", h5_keras(seq([k2_dense, k2_lambda])), "block", {"keras.lambda"}, ref="CVE-2024-3660")
    add("h5/lambda_continuation.h5", h5_keras(seq([k2_lambda]), continuation=True), "block", {"keras.lambda"},
        ref="attribute in a continuation block")
    add("h5/lambda_vlen.h5", h5_keras(seq([k2_lambda]), vlen=True), "block", {"keras.lambda"},
        ref="variable-length string in a global heap")
    add("h5/lambda_v2.h5", h5_keras(seq([k2_lambda]), sb=2), "block", {"keras.lambda"},
        ref="superblock 2, object header 2")
    add("h5/lambda_v2_continuation.h5", h5_keras(seq([k2_lambda]), sb=2, continuation=True), "block",
        {"keras.lambda"})
    add("h5/lambda_userblock.h5", h5_keras(seq([k2_lambda]), userblock=512), "block",
        {"keras.lambda", "hdf5.user_block"}, ref="superblock after a user block")
    add("h5/userblock_pickle.bin", call2("posix", "system").ljust(512, b"\0")
        + h5_keras(seq([k2_dense]), userblock=512)[512:], "block",
        {"pickle.global.denied", "hdf5.user_block"}, ref="pickle / HDF5 polyglot")
    add("h5/tfsm.h5", h5_keras(seq([{"class_name": "TFSMLayer", "config": {"filepath": "/x"}}])), "block",
        {"keras.tfsmlayer"})
    add("h5/no_config.h5", h5_keras(seq([k2_dense]), attr_name="training_config"), "warn",
        {"hdf5.not_inspected"}, malicious=False, ref="HDF5 without a model_config")
    add("h5/bad_config.h5", h5_keras(b"{not json"), "block", {"keras.config_invalid"})
    # dense attribute storage (a fractal heap) is not followed: the bytes are searched instead
    pad = {"class_name": "Sequential", "config": {"name": "s", "layers": [k2_dense, k2_lambda],
                                                  "pad": "x" * 70000}}
    add("h5/lambda_dense.h5", h5_keras(None, dense=b"FRHP" + bytes(60) + json.dumps(pad).encode()), "block",
        {"keras.lambda", "hdf5.not_inspected"}, ref="config padded past 64 KiB into dense storage")
    add("h5/lambda_dense_spaced.h5", h5_keras(None, dense=b"\0" * 5 + b'{\n  "class_name": "Functional", "config"'
                                               b': {"layers": [{"class_name": "Lambda", "config": {}}]}}\0'),
        "block", {"keras.lambda"})
    add("h5/tfsm_dense_second.h5", h5_keras(None, dense=b'{"class_name": "x"} "class_name" {"class_name": '
                                            b'"Dense", "config": {"inner": {"class_name": "TFSMLayer", '
                                            b'"config": {}}}} {"class_name": 1, "config": {}}'),
        "block", {"keras.tfsmlayer"}, ref="a config after other class_name text")
    add("h5/clean_dense.h5", h5_keras(None, dense=json.dumps(seq([k2_dense])).encode()), "warn",
        {"hdf5.not_inspected"}, malicious=False, ref="dense storage, benign config found by search")
    add("h5/truncated.h5", h5_keras(seq([k2_lambda]))[:120], "warn", {"hdf5.not_inspected"},
        malicious=False, ref="truncated: the HDF5 library cannot open it either")
    add("keras/dup_keys.keras", pyzip([("metadata.json", b"{}"), ("config.json",
                                       b'{"class_name": "Dense", "class_name": "Lambda"}')]), "block",
        {"keras.config_invalid"})

    # ---- gguf
    add("gguf/ssti.gguf", gguf([("tokenizer.chat_template", 8, SSTI)], []), "block", {"template.code"},
        ref="CVE-2024-34359")
    add("gguf/lipsum.gguf", gguf([("tokenizer.chat_template", 8, "{{ lipsum.__globals__['os'] }}")], []),
        "block", {"template.code"})
    add("gguf/escaped.gguf", gguf([("tokenizer.chat_template.tool_use", 8,
                                    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}")], []), "block",
        {"template.code"})
    add("gguf/huge_kv_count.gguf", gguf([], [], counts=(0, 1 << 40)), "block", {"gguf.malformed"})
    add("gguf/string_past_end.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_str("general.name") +
        struct.pack("<IQ", 8, 1 << 50), "block", {"gguf.malformed"})
    add("gguf/out_of_bounds.gguf", gguf([], [("t", [1024], 0, 0)]) + bytes(16), "block",
        {"gguf.tensor_out_of_bounds"})
    add("gguf/too_many_dims.gguf", gguf([], [("t", [1] * 9, 0, 0)]) + bytes(64), "block", {"gguf.malformed"})
    add("gguf/overlap.gguf", gguf([], [("a", [16], 0, 0), ("b", [16], 0, 32)]) + bytes(128), "block",
        {"gguf.tensor_overlap"})
    add("tokenizer/tokenizer_config.json", json.dumps({"chat_template": SSTI}).encode(), "block",
        {"template.code"})

    # ---- onnx
    for i, loc in enumerate(["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x", "file://x", "a/../../b"]):
        add(f"onnx/escape_{i}.onnx", onnx_model([loc]), "block", {"onnx.external_data_path"},
            ref="CVE-2022-25882, CVE-2024-27318")
    add("onnx/subgraph_escape.onnx", onnx_model(["ok.bin"], sub_location="../secret"), "block",
        {"onnx.external_data_path"})

    # ---- safetensors malformations (security.md 3.4)
    good_h = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()

    def st_raw(h, data=bytes(8), hlen=None):
        return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data

    add("st/header_past_end.safetensors", st_raw(good_h, hlen=10 ** 6), "block", {"safetensors.header_out_of_bounds"})
    add("st/header_too_large.safetensors", st_raw(good_h, hlen=2 * 10 ** 8), "block", {"safetensors.header_too_large"})
    add("st/not_json.safetensors", st_raw(b"{not json}    "), "block", {"safetensors.invalid_json"})
    add("st/not_utf8.safetensors", st_raw(b'{"\xff": 1}     '), "block", {"safetensors.invalid_json"})
    add("st/top_array.safetensors", st_raw(b"[1, 2]  "), "block", {"safetensors.invalid_json"})
    add("st/duplicate_key.safetensors", st_raw(
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
        b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'), "block", {"safetensors.duplicate_key"})
    add("st/nested_duplicate.safetensors", st_raw(
        b'{"a": {"dtype": "F32", "dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}'), "block",
        {"safetensors.duplicate_key"})
    add("st/bad_dtype.safetensors", safetensors([("a", "F128", [1], 16)]), "block", {"safetensors.dtype"})
    add("st/negative_shape.safetensors", st_raw(b'{"a": {"dtype": "U8", "shape": [-8], "data_offsets": [0, 8]}}'),
        "block", {"safetensors.shape"})
    add("st/float_shape.safetensors", st_raw(b'{"a": {"dtype": "U8", "shape": [8.0], "data_offsets": [0, 8]}}'),
        "block", {"safetensors.shape"})
    add("st/overflow.safetensors", st_raw(
        b'{"a": {"dtype": "I32", "shape": [2, 9223372036854775807], "data_offsets": [0, 8]}}'), "block",
        {"safetensors.overflow"})
    add("st/size_mismatch.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}'),
        "block", {"safetensors.size_mismatch"})
    add("st/overlap.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                                         b'"b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'),
        "block", {"safetensors.overlap"})
    add("st/gap.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'), "block",
        {"safetensors.gap"})
    add("st/trailing.safetensors", st_raw(good_h, data=bytes(8) + b"PK\x03\x04"), "block",
        {"safetensors.trailing_data"})
    add("st/truncated.safetensors", st_raw(good_h, data=bytes(4)), "block", {"safetensors.truncated"})
    add("st/offsets_3.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}}'),
        "block", {"safetensors.offsets"})
    add("st/begin_gt_end.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}'),
        "block", {"safetensors.offsets"})
    add("st/missing_field.safetensors", st_raw(b'{"a": {"dtype": "F32", "shape": [2]}}'), "block",
        {"safetensors.invalid_entry"})
    add("st/bits_not_bytes.safetensors", st_raw(b'{"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}',
                                                data=bytes(2)), "block", {"safetensors.misaligned"})
    add("st/metadata_nonstring.safetensors", safetensors([("a", "F32", [1], 4)], meta={"n": 1}), "warn",
        {"safetensors.metadata"}, malicious=True)
    add("st/extra_field.safetensors", st_raw(
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}'), "warn",
        {"safetensors.extra_field"}, malicious=True)
    add("st/short.safetensors", b"\x01\x02", "block", {"safetensors.truncated"})
    return out
