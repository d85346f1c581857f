/*
 * hub_policy.h - the serving policy (`serve --policy FILE`): which repos, revisions and files
 * hubgate may serve, for local and upstream repos alike.
 *
 * Job: parse a JSON policy file into an immutable rule list, evaluate a request against it
 * (first matching rule wins, then the default), and keep the live policy of a server current:
 * re-read on demand (SIGHUP) and when the file changes (its mtime, size or inode, looked at no
 * more than once per second, from the request path).
 *
 * Format (README "Policy"):
 *   {"default": "allow" | "deny",              optional, "allow" when absent
 *    "scan": "block" | "warn" | "off",         optional: what scanner verdicts mean (hub_scan.h),
 *                                              overriding serve --scan while this file is in force
 *    "rules": [{"action": "allow" | "deny",    required
 *               "repo": "org/na*",             fnmatch glob on the repo id
 *               "org": "org",                  the repo's organisation
 *               "type": "model" | "dataset" | "space",
 *               "revision": "<40-hex commit>", pin: matching repos are served at this commit
 *                                              only; any other requested revision is denied
 *               "files": "*.bin",              fnmatch glob on the file path (file requests only)
 *               "formats": ["pickle", ...],    file formats (file requests only)
 *               "reason": "text"}, ...]}       shown in the denial message
 *   A rule matches when all its conditions hold; unknown keys are errors (a typo must not
 *   silently widen access).
 *
 * Invariants: a hub_policy never changes after hub_policy_parse; a reload builds a new one and
 * swaps the pointer, so a request evaluates one consistent rule list from start to end.  A file
 * that fails to parse on reload leaves the previous policy in force (and is logged); at startup
 * it is an error for the caller to report.
 *
 * Threading: hub_policy_acquire and hub_policy_file_reload may be called from any thread.  The
 * file's mutex guards the current pointer and the change-detection state; a hub_policy is
 * refcounted (atomic), so a reader keeps its copy alive after a swap until it releases it.
 * Parsing a reloaded file happens outside the mutex.
 */
#ifndef HG_HUB_POLICY_H
#define HG_HUB_POLICY_H

#include <stddef.h>

#include "store/store.h"
#include "util/hg_err.h"

typedef struct hub_policy hub_policy;
typedef struct hub_policy_file hub_policy_file;

/* What a request asks for, as far as the policy cares. */
typedef struct hub_policy_req {
    store_repo_type type;
    const char *repo;     /* "org/name" (or a legacy one-segment id) */
    const char *revision; /* as requested; NULL when the route names none (refs) */
    const char *path;     /* the file, for file requests (resolve, raw, reconstructions); else NULL */
    const char *content_format; /* the format its bytes are in (hub_scan_policy_format), when the
                                 * scanner told; a "formats" condition matches the name or this */
} hub_policy_req;

typedef enum hub_verdict_kind {
    HUB_VERDICT_NONE = 0, /* no rule matched and the default allows */
    HUB_VERDICT_ALLOW,    /* an allow rule matched */
    HUB_VERDICT_DENY,     /* a deny rule, a revision pin or the default denied */
} hub_verdict_kind;

typedef struct hub_policy_verdict {
    hub_verdict_kind kind;
    unsigned rule;      /* 1-based number of the deciding rule; 0 = the default */
    char message[768];  /* for denials: "blocked by policy rule N: ..." */
} hub_policy_verdict;

/* Parses policy text.  On HG_ERR_INVAL err says what is wrong (with the rule number). */
HG_MUST_CHECK hg_err hub_policy_parse(const char *text, size_t len, hub_policy **out, char *err,
                                      size_t errcap);
/* Reference counting: hub_policy_parse returns one reference. */
void hub_policy_release(hub_policy **p);
/* Evaluates a request; never fails. */
void hub_policy_eval(const hub_policy *p, const hub_policy_req *rq, hub_policy_verdict *v);
/* The "scan" setting (hub_scan_mode), or -1 when the policy has none. */
int hub_policy_scan_mode(const hub_policy *p);
/* Number of rules (for logs). */
size_t hub_policy_nrules(const hub_policy *p);

/* The format of a file, by its name for now ("pickle", "safetensors", "gguf", "onnx", "keras",
 * "numpy", "tensorflow", "msgpack"), or NULL.  The scanner may later decide from the bytes. */
const char *hub_policy_format_of(const char *path);

/* Loads path; HG_ERR_INVAL (parse error, message in err) or HG_ERR_IO (unreadable). */
HG_MUST_CHECK hg_err hub_policy_file_open(const char *path, hub_policy_file **out, char *err,
                                          size_t errcap);
void hub_policy_file_close(hub_policy_file **pf);
/* Re-reads the file now; keeps the current policy if the new text does not parse.  Returns
 * HG_OK if a new policy is in force. */
hg_err hub_policy_file_reload(hub_policy_file *pf);
/* The policy in force, with a reference for the caller; first re-reads the file if it changed
 * (looked at no more than once per second). */
hub_policy *hub_policy_acquire(hub_policy_file *pf);

#endif
