/*
 * hub_policy.c - the serving policy: parsing, evaluation, live reload (see hub_policy.h for the
 * format, the invariants and the threading rules).
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "hub/hub_policy.h"
#include "hub/hub_scan.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

#define POLICY_MAX_BYTES (1u << 20)
#define POLICY_MAX_RULES 10000

/* File formats by extension; the bit of a format is 1 << its index. */
static const struct {
    const char *name;
    const char *const ext[8];
} formats[] = {
    {"pickle", {".bin", ".pt", ".pth", ".pkl", ".ckpt", ".joblib", ".pickle", NULL}},
    {"safetensors", {".safetensors", NULL}},
    {"gguf", {".gguf", NULL}},
    {"onnx", {".onnx", NULL}},
    {"keras", {".h5", ".hdf5", ".keras", NULL}},
    {"numpy", {".npy", ".npz", NULL}},
    {"tensorflow", {".pb", NULL}},
    {"msgpack", {".msgpack", NULL}},
};
#define NFORMATS (sizeof formats / sizeof formats[0])

typedef struct policy_rule {
    int allow;
    int type; /* -1: any */
    char *repo, *org, *revision, *files, *reason;
    unsigned formats; /* bit set; 0: no format condition */
    char desc[384];   /* the conditions, for messages */
} policy_rule;

struct hub_policy {
    int refs; /* atomic */
    int default_deny;
    int scan;         /* "scan": hub_scan_mode, or -1 when the file says nothing (--scan rules) */
    size_t n;
    policy_rule *rules;
};

struct hub_policy_file {
    char *path;
    pthread_mutex_t mu; /* guards cur, the stat fields and next_check_ms */
    hub_policy *cur;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    dev_t dev;
    int64_t next_check_ms;
};

static int format_index(const char *path)
{
    size_t n = strlen(path);
    for (size_t f = 0; f < NFORMATS; f++)
        for (size_t e = 0; formats[f].ext[e]; e++) {
            size_t el = strlen(formats[f].ext[e]);
            if (n > el && !strcasecmp(path + n - el, formats[f].ext[e]))
                return (int)f;
        }
    return -1;
}

const char *hub_policy_format_of(const char *path)
{
    int f = format_index(path);
    return f < 0 ? NULL : formats[f].name;
}

static void rule_free(policy_rule *r)
{
    free(r->repo);
    free(r->org);
    free(r->revision);
    free(r->files);
    free(r->reason);
}

static void policy_free(hub_policy *p)
{
    for (size_t i = 0; i < p->n; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
    free(p);
}

void hub_policy_release(hub_policy **pp)
{
    hub_policy *p = *pp;
    *pp = NULL;
    if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
        policy_free(p);
}

int hub_policy_scan_mode(const hub_policy *p)
{
    return p ? p->scan : -1;
}

size_t hub_policy_nrules(const hub_policy *p)
{
    return p->n;
}

/* A string member, or an error unless absent. */
static int get_str(json_t *o, const char *key, char **out, unsigned idx, char *err, size_t errcap)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024) {
        snprintf(err, errcap, "rule %u: \"%s\" must be a non-empty string", idx, key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    if (!*out) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

static int is_hex40(const char *s)
{
    if (strlen(s) != 40)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return 0;
    return 1;
}

static int parse_rule(json_t *o, unsigned idx, policy_rule *r, char *err, size_t errcap)
{
    static const char *const keys[] = {"action", "repo", "org", "type", "revision", "files", "formats", "reason"};
    r->type = -1;
    if (!json_is_object(o)) {
        snprintf(err, errcap, "rule %u: must be an object", idx);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(key, keys[k]))
            k++;
        if (k == sizeof keys / sizeof keys[0]) {
            snprintf(err, errcap, "rule %u: unknown key \"%.100s\" (known: action, repo, org, type, revision, "
                                  "files, formats, reason)", idx, key);
            return -1;
        }
    }
    const char *action = json_string_value(json_object_get(o, "action"));
    if (!action || (strcmp(action, "allow") && strcmp(action, "deny"))) {
        snprintf(err, errcap, "rule %u: \"action\" must be \"allow\" or \"deny\"", idx);
        return -1;
    }
    r->allow = !strcmp(action, "allow");
    char *type = NULL;
    if (get_str(o, "repo", &r->repo, idx, err, errcap) || get_str(o, "org", &r->org, idx, err, errcap) ||
        get_str(o, "revision", &r->revision, idx, err, errcap) || get_str(o, "files", &r->files, idx, err, errcap) ||
        get_str(o, "reason", &r->reason, idx, err, errcap) || get_str(o, "type", &type, idx, err, errcap))
        return -1;
    if (type) {
        store_repo_type t;
        int bad = store_repo_type_parse(type, &t) != HG_OK;
        free(type);
        if (bad) {
            snprintf(err, errcap, "rule %u: \"type\" must be \"model\", \"dataset\" or \"space\"", idx);
            return -1;
        }
        r->type = (int)t;
    }
    if (r->org && strchr(r->org, '/')) {
        snprintf(err, errcap, "rule %u: \"org\" is an organisation name, without '/' (use \"repo\" for globs)", idx);
        return -1;
    }
    if (r->revision) {
        if (!is_hex40(r->revision)) {
            snprintf(err, errcap, "rule %u: \"revision\" must be a full 40-hex commit id", idx);
            return -1;
        }
        for (char *p = r->revision; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
    }
    json_t *fm = json_object_get(o, "formats");
    if (fm) {
        if (!json_is_array(fm) || json_array_size(fm) == 0) {
            snprintf(err, errcap, "rule %u: \"formats\" must be a non-empty array of format names", idx);
            return -1;
        }
        size_t i;
        json_array_foreach(fm, i, v) {
            const char *name = json_string_value(v);
            size_t f = 0;
            while (name && f < NFORMATS && strcmp(name, formats[f].name))
                f++;
            if (!name || f == NFORMATS) {
                snprintf(err, errcap, "rule %u: unknown format \"%.100s\" (known: pickle, safetensors, gguf, onnx, "
                                      "keras, numpy, tensorflow, msgpack)", idx, name ? name : "?");
                return -1;
            }
            r->formats |= 1u << f;
        }
    }
    /* The description used in messages: the rule's conditions. */
    size_t o2 = 0;
    const char *sep = "";
#define DESC(...)                                                                                  \
    do {                                                                                           \
        int w_ = snprintf(r->desc + o2, sizeof r->desc - o2, __VA_ARGS__);                         \
        if (w_ > 0)                                                                                \
            o2 = o2 + (size_t)w_ < sizeof r->desc ? o2 + (size_t)w_ : sizeof r->desc - 1;          \
        sep = ", ";                                                                                \
    } while (0)
    if (r->repo)
        DESC("%srepo %s", sep, r->repo);
    if (r->org)
        DESC("%sorg %s", sep, r->org);
    if (r->type >= 0)
        DESC("%stype %s", sep, store_repo_type_name((store_repo_type)r->type));
    if (r->revision)
        DESC("%srevision %.12s", sep, r->revision);
    if (r->files)
        DESC("%sfiles %s", sep, r->files);
    if (r->formats) {
        DESC("%sformats ", sep);
        const char *fs = "";
        for (size_t f = 0; f < NFORMATS; f++)
            if (r->formats & (1u << f)) {
                DESC("%s%s", fs, formats[f].name);
                fs = "+";
            }
    }
    if (!o2)
        DESC("every request");
#undef DESC
    return 0;
}

hg_err hub_policy_parse(const char *text, size_t len, hub_policy **out, char *err, size_t errcap)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errcap, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return HG_ERR_INVAL;
    }
    hub_policy *p = calloc(1, sizeof *p);
    hg_err rc = HG_ERR_INVAL;
    if (!p) {
        json_decref(root);
        snprintf(err, errcap, "out of memory");
        return HG_ERR_NOMEM;
    }
    p->refs = 1;
    p->scan = -1;
    const char *key;
    json_t *v, *rules = NULL;
    if (!json_is_object(root)) {
        snprintf(err, errcap, "the policy must be a JSON object {\"default\": ..., \"rules\": [...]}");
        goto out;
    }
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "default")) {
            const char *d = json_string_value(v);
            if (!d || (strcmp(d, "allow") && strcmp(d, "deny"))) {
                snprintf(err, errcap, "\"default\" must be \"allow\" or \"deny\"");
                goto out;
            }
            p->default_deny = !strcmp(d, "deny");
        } else if (!strcmp(key, "rules")) {
            rules = v;
        } else if (!strcmp(key, "scan")) {
            const char *m = json_string_value(v);
            if (!m || (p->scan = hub_scan_mode_parse(m)) < 0) {
                snprintf(err, errcap, "\"scan\" must be \"block\", \"warn\" or \"off\"");
                goto out;
            }
        } else {
            snprintf(err, errcap, "unknown top-level key \"%.100s\" (known: default, rules, scan)", key);
            goto out;
        }
    }
    if (rules && (!json_is_array(rules) || json_array_size(rules) > POLICY_MAX_RULES)) {
        snprintf(err, errcap, "\"rules\" must be an array of at most %d rules", POLICY_MAX_RULES);
        goto out;
    }
    p->n = rules ? json_array_size(rules) : 0;
    p->rules = calloc(p->n ? p->n : 1, sizeof *p->rules);
    if (!p->rules) {
        p->n = 0;
        snprintf(err, errcap, "out of memory");
        rc = HG_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < p->n; i++)
        if (parse_rule(json_array_get(rules, i), (unsigned)i + 1, &p->rules[i], err, errcap))
            goto out;
    rc = HG_OK;
out:
    json_decref(root);
    if (rc)
        policy_free(p);
    else
        *out = p;
    return rc;
}

static int rule_matches_target(const policy_rule *r, const hub_policy_req *rq)
{
    if (r->type >= 0 && r->type != (int)rq->type)
        return 0;
    if (r->org) {
        const char *slash = strchr(rq->repo, '/');
        size_t ol = slash ? (size_t)(slash - rq->repo) : strlen(rq->repo);
        if (strlen(r->org) != ol || strncmp(r->org, rq->repo, ol))
            return 0;
    }
    if (r->repo && fnmatch(r->repo, rq->repo, 0) != 0)
        return 0;
    if (r->files || r->formats) {
        if (!rq->path)
            return 0;
        if (r->files && fnmatch(r->files, rq->path, 0) != 0)
            return 0;
        int f = format_index(rq->path), fc = -1;
        for (size_t k = 0; rq->content_format && k < NFORMATS && fc < 0; k++)
            if (!strcmp(rq->content_format, formats[k].name))
                fc = (int)k;
        /* By name or by content: a pickle named model.safetensors is still a pickle. */
        if (r->formats && !((f >= 0 && (r->formats & (1u << f))) || (fc >= 0 && (r->formats & (1u << fc)))))
            return 0;
    }
    return 1;
}

void hub_policy_eval(const hub_policy *p, const hub_policy_req *rq, hub_policy_verdict *v)
{
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < p->n; i++) {
        const policy_rule *r = &p->rules[i];
        if (!rule_matches_target(r, rq))
            continue;
        if (r->revision) {
            if (!rq->revision)
                continue; /* a route without a revision (refs): the pin says nothing about it */
            if (strcasecmp(rq->revision, r->revision)) {
                v->kind = HUB_VERDICT_DENY;
                v->rule = (unsigned)i + 1;
                snprintf(v->message, sizeof v->message,
                         "blocked by policy rule %u: only revision %s may be served, not %.100s%s%.200s (%.200s)",
                         v->rule, r->revision, rq->revision, r->reason ? ": " : "", r->reason ? r->reason : "",
                         r->desc);
                return;
            }
        }
        v->kind = r->allow ? HUB_VERDICT_ALLOW : HUB_VERDICT_DENY;
        v->rule = (unsigned)i + 1;
        if (!r->allow)
            snprintf(v->message, sizeof v->message, "blocked by policy rule %u: %.300s (%.300s)", v->rule,
                     r->reason ? r->reason : "denied", r->desc);
        return;
    }
    if (p->default_deny) {
        v->kind = HUB_VERDICT_DENY;
        snprintf(v->message, sizeof v->message, "blocked by policy: no rule allows this request (default deny)");
    }
}

/* ---- the live policy of a server ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads and parses the file; fills st with what was read (for change detection). */
static hg_err load(const char *path, hub_policy **out, struct stat *st, char *err, size_t errcap)
{
    if (stat(path, st) != 0) {
        snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
        return HG_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0;
    hg_err rc = hg_read_file(path, POLICY_MAX_BYTES, &text, &len);
    if (rc) {
        snprintf(err, errcap, "cannot read %s: %s", path, rc == HG_ERR_TOOBIG ? "larger than 1 MiB" : hg_strerror(rc));
        return rc == HG_ERR_TOOBIG ? HG_ERR_INVAL : HG_ERR_IO;
    }
    rc = hub_policy_parse(text, len, out, err, errcap);
    free(text);
    return rc;
}

hg_err hub_policy_file_open(const char *path, hub_policy_file **out, char *err, size_t errcap)
{
    hub_policy_file *pf = calloc(1, sizeof *pf);
    if (!pf || !(pf->path = strdup(path))) {
        free(pf);
        snprintf(err, errcap, "out of memory");
        return HG_ERR_NOMEM;
    }
    struct stat st;
    hg_err rc = load(path, &pf->cur, &st, err, errcap);
    if (rc) {
        free(pf->path);
        free(pf);
        return rc;
    }
    pf->mtime = st.st_mtim;
    pf->size = st.st_size;
    pf->ino = st.st_ino;
    pf->dev = st.st_dev;
    pf->next_check_ms = now_ms() + 1000;
    pthread_mutex_init(&pf->mu, NULL);
    *out = pf;
    return HG_OK;
}

void hub_policy_file_close(hub_policy_file **ppf)
{
    hub_policy_file *pf = *ppf;
    if (!pf)
        return;
    hub_policy_release(&pf->cur);
    pthread_mutex_destroy(&pf->mu);
    free(pf->path);
    free(pf);
    *ppf = NULL;
}

/* Parses the file outside the lock, then swaps under it. */
static hg_err reload(hub_policy_file *pf, const struct stat *seen)
{
    char err[512];
    hub_policy *p = NULL;
    struct stat st;
    hg_err rc = load(pf->path, &p, &st, err, sizeof err);
    pthread_mutex_lock(&pf->mu);
    /* Remember what was looked at even on failure: a broken file is reported once, not on
     * every check, and the next edit is picked up. */
    const struct stat *mark = rc ? seen : &st;
    if (mark) {
        pf->mtime = mark->st_mtim;
        pf->size = mark->st_size;
        pf->ino = mark->st_ino;
        pf->dev = mark->st_dev;
    }
    hub_policy *old = NULL;
    if (!rc) {
        old = pf->cur;
        pf->cur = p;
    }
    pthread_mutex_unlock(&pf->mu);
    hub_policy_release(&old);
    if (rc)
        HG_ERROR("policy %s: %s; keeping the previous policy", pf->path, err);
    else
        HG_INFO("policy %s reloaded: %zu rules", pf->path, p->n);
    return rc;
}

hg_err hub_policy_file_reload(hub_policy_file *pf)
{
    return reload(pf, NULL);
}

hub_policy *hub_policy_acquire(hub_policy_file *pf)
{
    int64_t now = now_ms();
    int check = 0;
    pthread_mutex_lock(&pf->mu);
    if (now >= pf->next_check_ms) {
        pf->next_check_ms = now + 1000;
        check = 1;
    }
    pthread_mutex_unlock(&pf->mu);
    if (check) {
        struct stat st;
        int changed;
        if (stat(pf->path, &st) != 0) {
            changed = 0; /* gone for a moment (an editor's rename): keep what we have */
        } else {
            pthread_mutex_lock(&pf->mu);
            changed = st.st_mtim.tv_sec != pf->mtime.tv_sec || st.st_mtim.tv_nsec != pf->mtime.tv_nsec ||
                      st.st_size != pf->size || st.st_ino != pf->ino || st.st_dev != pf->dev;
            pthread_mutex_unlock(&pf->mu);
        }
        if (changed) {
            hg_err rc = reload(pf, &st);
            (void)rc; /* logged; the previous policy stays */
        }
    }
    pthread_mutex_lock(&pf->mu);
    hub_policy *p = pf->cur;
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&pf->mu);
    return p;
}
