/*
 * hg_err.h - the one error type of hubgate.
 *
 * Every fallible function in the core library returns an hg_err.  HG_OK is zero, so the idiom is
 *     hg_err rc = f(); if (rc) return rc;
 * The numeric values are stable (they may appear in logs); never reuse a retired value.
 * Input from outside (disk, network, clients) that is malformed yields HG_ERR_CORRUPT or
 * HG_ERR_INVAL, never an assertion failure.
 */
#ifndef HG_ERR_H
#define HG_ERR_H

typedef enum {
    HG_OK = 0,
    HG_ERR_NOMEM = 1,    /* allocation failed */
    HG_ERR_TOOBIG = 2,   /* a size limit was exceeded */
    HG_ERR_IO = 3,       /* a system call failed (errno was logged where it happened) */
    HG_ERR_CORRUPT = 4,  /* malformed or inconsistent data */
    HG_ERR_INVAL = 5,    /* bad argument or bad user input */
    HG_ERR_NOTFOUND = 6, /* no such object */
    HG_ERR_UPSTREAM = 7, /* the upstream failed */
    HG_ERR_AGAIN = 8,    /* not ready yet: suspend and retry */
    HG_ERR_DENIED = 9,   /* not allowed */
    HG_ERR_UNSUPPORTED = 10, /* valid but not handled (a newer format version, say) */
} hg_err;

/* Returns a static, human-readable description of rc. */
const char *hg_strerror(hg_err rc);

#if defined(__GNUC__)
#define HG_MUST_CHECK __attribute__((warn_unused_result))
#else
#define HG_MUST_CHECK
#endif

#endif
