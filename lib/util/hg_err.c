#include "util/hg_err.h"

const char *hg_strerror(hg_err rc)
{
    switch (rc) {
    case HG_OK: return "success";
    case HG_ERR_NOMEM: return "out of memory";
    case HG_ERR_TOOBIG: return "size limit exceeded";
    case HG_ERR_IO: return "input/output error";
    case HG_ERR_CORRUPT: return "malformed or corrupt data";
    case HG_ERR_INVAL: return "invalid argument";
    case HG_ERR_NOTFOUND: return "not found";
    case HG_ERR_UPSTREAM: return "upstream error";
    case HG_ERR_AGAIN: return "try again";
    case HG_ERR_DENIED: return "permission denied";
    case HG_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
