/*
 * scan_names.c - the names the pickle machine judges imports by (security.md 1.4, 2.4, 2.8):
 * the ALLOWLIST (exact "module.name" of the globals PyTorch's weights_only unpickler, NumPy,
 * joblib and collections state use: this decides), the DENYLIST (wildcard modules matched on
 * every dotted prefix and component, builtins outside the data constructors, named loaders and
 * gadgets: this only NAMES what was found), and CPython's Python-2 renaming (_compat_pickle),
 * applied first when the protocol in force is < 3.  Constant tables only.
 */
#include <string.h>

#include "scan/scan_int.h"

static const char *const ALLOW[] = {
    "collections.OrderedDict", "collections.Counter",
    "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.Size",
    "torch.Tensor", "torch.device", "_codecs.encode",
    "builtins.bytearray", "builtins.set", "builtins.frozenset", "builtins.complex",
    "builtins.slice",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor", "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass", "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor", "torch._tensor._rebuild_from_type_v2",
    "torch.DoubleStorage", "torch.FloatStorage", "torch.HalfStorage", "torch.LongStorage",
    "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
    "torch.BoolStorage", "torch.BFloat16Storage", "torch.ComplexDoubleStorage",
    "torch.ComplexFloatStorage", "torch.QInt8Storage", "torch.QInt32Storage",
    "torch.QUInt8Storage", "torch.QUInt4x2Storage", "torch.QUInt2x4Storage",
    "torch.storage.TypedStorage", "torch.storage.UntypedStorage", "torch.UntypedStorage",
    "torch.float64", "torch.float32", "torch.float16", "torch.bfloat16", "torch.int64",
    "torch.int32", "torch.int16", "torch.int8", "torch.uint8", "torch.bool", "torch.complex128",
    "torch.complex64", "torch.qint8", "torch.qint32", "torch.quint8", "torch.quint4x2",
    "torch.quint2x4", "torch.float8_e5m2", "torch.float8_e4m3fn", "torch.float8_e5m2fnuz",
    "torch.float8_e4m3fnuz", "torch.float8_e8m0fnu", "torch.float4_e2m1fn_x2", "torch.bits8",
    "torch.bits16", "torch.bits1x8", "torch.bits2x4", "torch.bits4x2", "torch.complex32",
    "torch.uint16", "torch.uint32", "torch.uint64",
    "torch.uint1", "torch.uint2", "torch.uint3", "torch.uint4", "torch.uint5", "torch.uint6",
    "torch.uint7", "torch.int1", "torch.int2", "torch.int3", "torch.int4", "torch.int5",
    "torch.int6", "torch.int7",
    "torch.DoubleTensor", "torch.FloatTensor", "torch.HalfTensor", "torch.BFloat16Tensor",
    "torch.LongTensor", "torch.IntTensor", "torch.ShortTensor", "torch.CharTensor",
    "torch.ByteTensor", "torch.BoolTensor",
    "torch.cuda.DoubleTensor", "torch.cuda.FloatTensor", "torch.cuda.HalfTensor",
    "torch.cuda.BFloat16Tensor", "torch.cuda.LongTensor", "torch.cuda.IntTensor",
    "torch.cuda.ShortTensor", "torch.cuda.CharTensor", "torch.cuda.ByteTensor",
    "torch.cuda.BoolTensor",
    "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "joblib.numpy_pickle.NumpyArrayWrapper",
};

/* Wildcard modules: the module itself, any dotted prefix or any dotted component. */
static const char *const DENY_MODULES[] = {
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "pty", "commands",
    "multiprocessing", "runpy", "code", "codeop", "marshal", "types", "importlib",
    "_frozen_importlib", "_frozen_importlib_external", "_imp", "imp", "pkgutil", "zipimport",
    "inspect", "gc", "site", "ctypes", "_ctypes", "pickle", "_pickle", "cPickle", "dill",
    "cloudpickle", "shelve", "copyreg", "copy_reg", "functools", "operator", "_operator",
    "cProfile", "profile", "pdb", "bdb", "timeit", "trace", "doctest", "pydoc", "idlelib",
    "lib2to3", "ensurepip", "pip", "venv", "distutils", "setuptools", "unittest", "test",
    "socket", "_socket", "ssl", "_ssl", "http", "httplib", "urllib", "urllib2", "requests",
    "aiohttp", "httpx", "webbrowser", "smtplib", "imaplib", "ftplib", "poplib", "telnetlib",
    "nntplib", "socketserver", "xmlrpc", "asyncio", "select", "selectors", "signal", "_signal",
    "threading", "_thread", "atexit", "sqlite3", "_sqlite3", "shutil", "tempfile", "filecmp",
    "fileinput", "glob", "linecache", "mmap", "compileall", "py_compile", "tarfile", "zipfile",
    "logging", "syslog", "uuid", "_osx_support", "_aix_support", "_pyrepl", "pexpect", "pipes",
    "platform", "_interpreters", "_xxsubinterpreters", "code", "numpy.f2py", "numpy.distutils",
    "numpy.testing", "torch.hub", "torch._dynamo", "torch._inductor", "torch.jit", "torch.fx",
    "torch.utils.bottleneck", "torch.utils.collect_env", "torch.utils.data.datapipes",
    "torch.distributed", "picklescan", "fickling", "modelscan", "modelaudit", "model_unpickler",
    "saferpickle", "__future__", "io", "_io", "codecs",
};

static const char *const DENY_NAMES[] = {
    "torch.load", "torch.serialization.load", "torch.storage._load_from_bytes", "torch.compile",
    "torch.utils._config_module.ConfigModule.load_config", "numpy.load", "numpy.lib.npyio.load",
    "numpy.ctypeslib.load_library", "pandas.read_pickle", "joblib.load",
    "numpy.testing._private.utils.runstring", "numpy.f2py.crackfortran.getlincoef",
    "torch.jit.unsupported_tensor_ops.execWrapper",
    "transformers.models.auto.auto_factory.getattribute_from_module",
    "joblib.numpy_pickle_compat.NDArrayWrapper", "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    "_codecs.decode", "_codecs.lookup",
};

static const char *const SAFE_BUILTINS[] = {
    "bool", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple", "set",
    "frozenset", "dict", "len", "abs", "sum", "min", "max", "round", "pow", "divmod", "sorted",
    "reversed", "enumerate", "zip", "range", "map", "filter", "slice", "iter", "next", "all",
    "any", "hash", "id", "repr", "ascii", "bin", "hex", "oct", "ord", "chr", "isinstance",
    "issubclass", "object", "callable", "format",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && !memcmp(list[i], s, len))
            return 1;
    return 0;
}

/* Python-2 names (CPython Lib/_compat_pickle.py), applied when the protocol is < 3. */
static const char *const IMPORT_MAP[][2] = {
    {"__builtin__", "builtins"}, {"copy_reg", "copyreg"}, {"Queue", "queue"},
    {"SocketServer", "socketserver"}, {"ConfigParser", "configparser"}, {"repr", "reprlib"},
    {"tkFileDialog", "tkinter.filedialog"}, {"tkSimpleDialog", "tkinter.simpledialog"},
    {"tkColorChooser", "tkinter.colorchooser"}, {"tkCommonDialog", "tkinter.commondialog"},
    {"Dialog", "tkinter.dialog"}, {"Tkdnd", "tkinter.dnd"}, {"tkFont", "tkinter.font"},
    {"tkMessageBox", "tkinter.messagebox"}, {"ScrolledText", "tkinter.scrolledtext"},
    {"Tkconstants", "tkinter.constants"}, {"Tix", "tkinter.tix"}, {"ttk", "tkinter.ttk"},
    {"Tkinter", "tkinter"}, {"markupbase", "_markupbase"}, {"_winreg", "winreg"},
    {"thread", "_thread"}, {"dummy_thread", "_dummy_thread"}, {"dbhash", "dbm.bsd"},
    {"dumbdbm", "dbm.dumb"}, {"dbm", "dbm.ndbm"}, {"gdbm", "dbm.gnu"},
    {"xmlrpclib", "xmlrpc.client"}, {"SimpleXMLRPCServer", "xmlrpc.server"},
    {"DocXMLRPCServer", "xmlrpc.server"}, {"httplib", "http.client"},
    {"htmlentitydefs", "html.entities"}, {"HTMLParser", "html.parser"}, {"Cookie", "http.cookies"},
    {"cookielib", "http.cookiejar"}, {"BaseHTTPServer", "http.server"},
    {"SimpleHTTPServer", "http.server"}, {"CGIHTTPServer", "http.server"},
    {"test.test_support", "test.support"}, {"commands", "subprocess"}, {"urlparse", "urllib.parse"},
    {"robotparser", "urllib.robotparser"}, {"urllib2", "urllib.request"}, {"anydbm", "dbm"},
    {"_abcoll", "collections.abc"}, {"cPickle", "pickle"}, {"_elementtree", "xml.etree.ElementTree"},
    {"FileDialog", "tkinter.filedialog"}, {"SimpleDialog", "tkinter.simpledialog"},
    {"StringIO", "io"}, {"cStringIO", "io"}, {"UserDict", "collections"},
    {"UserList", "collections"}, {"UserString", "collections"}, {"whichdb", "dbm"},
};

static const char *const NAME_MAP[][4] = {
    {"__builtin__", "xrange", "builtins", "range"},
    {"__builtin__", "reduce", "functools", "reduce"},
    {"__builtin__", "intern", "sys", "intern"},
    {"__builtin__", "unichr", "builtins", "chr"},
    {"__builtin__", "unicode", "builtins", "str"},
    {"__builtin__", "basestring", "builtins", "str"},
    {"__builtin__", "long", "builtins", "int"},
    {"itertools", "izip", "builtins", "zip"},
    {"itertools", "imap", "builtins", "map"},
    {"itertools", "ifilter", "builtins", "filter"},
    {"itertools", "ifilterfalse", "itertools", "filterfalse"},
    {"itertools", "izip_longest", "itertools", "zip_longest"},
    {"UserDict", "IterableUserDict", "collections", "UserDict"},
    {"UserList", "UserList", "collections", "UserList"},
    {"UserString", "UserString", "collections", "UserString"},
    {"whichdb", "whichdb", "dbm", "whichdb"},
    {"_socket", "fromfd", "socket", "fromfd"},
    {"_multiprocessing", "Connection", "multiprocessing.connection", "Connection"},
    {"multiprocessing.process", "Process", "multiprocessing.context", "Process"},
    {"multiprocessing.forking", "Popen", "multiprocessing.popen_fork", "Popen"},
    {"urllib", "ContentTooShortError", "urllib.error", "ContentTooShortError"},
    {"urllib", "getproxies", "urllib.request", "getproxies"},
    {"urllib", "pathname2url", "urllib.request", "pathname2url"},
    {"urllib", "quote_plus", "urllib.parse", "quote_plus"},
    {"urllib", "quote", "urllib.parse", "quote"},
    {"urllib", "unquote_plus", "urllib.parse", "unquote_plus"},
    {"urllib", "unquote", "urllib.parse", "unquote"},
    {"urllib", "url2pathname", "urllib.request", "url2pathname"},
    {"urllib", "urlcleanup", "urllib.request", "urlcleanup"},
    {"urllib", "urlencode", "urllib.parse", "urlencode"},
    {"urllib", "urlopen", "urllib.request", "urlopen"},
    {"urllib", "urlretrieve", "urllib.request", "urlretrieve"},
    {"urllib2", "HTTPError", "urllib.error", "HTTPError"},
    {"urllib2", "URLError", "urllib.error", "URLError"},
    {"socket", "_socketobject", "socket", "SocketType"},
    {"exceptions", "StandardError", "builtins", "Exception"},
};


int scan_name_allowed(const char *full, size_t len)
{
    return in_list(ALLOW, NELEM(ALLOW), full, len);
}

/* Denylist match for labelling.  Returns 1 and sets *what to the rule that matched. */
int scan_name_denied(const char *module, const char *name, const char *full, const char **what)
{
    static const char *const builtin_mods[] = {"builtins", "__builtin__", "__builtins__"};
    if (in_list(builtin_mods, 3, module, strlen(module))) {
        const char *dot = strchr(name, '.');
        size_t first = dot ? (size_t)(dot - name) : strlen(name);
        if (!in_list(SAFE_BUILTINS, NELEM(SAFE_BUILTINS), name, first) || dot) {
            *what = "a builtin outside the data constructors";
            return 1;
        }
    }
    if (in_list(DENY_NAMES, NELEM(DENY_NAMES), full, strlen(full))) {
        *what = "a known loader or code-running gadget";
        return 1;
    }
    size_t fl = strlen(full);
    if (fl >= 16 && !strcmp(full + fl - 16, ".from_pretrained")) {
        *what = "indirect model loading";
        return 1;
    }
    static const char *const copyreg_ok[] = {"copyreg._reconstructor", "copyreg.__newobj__",
                                             "copyreg.__newobj_ex__"};
    if (in_list(copyreg_ok, 3, full, strlen(full)))
        return 0;
    /* every dotted prefix of the module, and every component of module and name */
    size_t ml = strlen(module);
    for (size_t i = 0; i <= ml; i++)
        if (i == ml || module[i] == '.')
            if (in_list(DENY_MODULES, NELEM(DENY_MODULES), module, i)) {
                *what = "a denied module";
                return 1;
            }
    const char *s = full;
    for (int first = 1; *s; first = 0) {
        const char *e = strchr(s, '.');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (in_list(DENY_MODULES, NELEM(DENY_MODULES), s, l) ||
            (!first && in_list(builtin_mods, 3, s, l))) {
            *what = "a denied module in the dotted path";
            return 1;
        }
        s += l + (e ? 1 : 0);
    }
    return 0;
}

void scan_name_py2(const char **mod, const char **name)
{
    for (size_t i = 0; i < NELEM(NAME_MAP); i++)
        if (!strcmp(*mod, NAME_MAP[i][0]) && !strcmp(*name, NAME_MAP[i][1])) {
            *mod = NAME_MAP[i][2];
            *name = NAME_MAP[i][3];
            return;
        }
    if (!strcmp(*mod, "exceptions")) {
        *mod = "builtins";
        return;
    }
    for (size_t i = 0; i < NELEM(IMPORT_MAP); i++)
        if (!strcmp(*mod, IMPORT_MAP[i][0])) {
            *mod = IMPORT_MAP[i][1];
            return;
        }
}

