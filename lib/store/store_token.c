/*
 * store_token.c - access tokens that hubgate issues for its private local repos (store.h).
 *
 * Job: create, list and revoke tokens, and answer "does this bearer token grant read access to
 * this repo?" for the serving path.  The secret text is shown once, by the caller of
 * store_token_create; the index keeps only its SHA-256 (tokens.hash), so a copy of index.sqlite
 * gives no usable token.  Lookups go by that hash (a random 160-bit secret: nothing to learn from
 * index timing) and the stored hash is compared again with CRYPTO_memcmp.
 *
 * Rows are never deleted: revoking sets revoked_at, so ids and fingerprints stay meaningful in
 * audit logs.  Threading: like the rest of the store (one SQLite connection per thread); the CLI
 * writes while `serve` reads, and WAL keeps both consistent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "store/store_int.h"
#include "util/hg_log.h"

static void sha256(const char *s, uint8_t out[32])
{
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void store_token_fingerprint(const char *token, char out[9])
{
    uint8_t md[32];
    char full[65];
    sha256(token, md);
    hex(md, 32, full);
    memcpy(out, full, 8);
    out[8] = '\0';
}

/* A repo id segment or organisation name: what the Hub accepts, and never a glob. */
static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 96)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return 0;
    }
    return !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

static int types_prefix(const char *s, size_t n)
{
    return (n == 6 && !strncmp(s, "models", 6)) || (n == 8 && !strncmp(s, "datasets", 8)) ||
           (n == 6 && !strncmp(s, "spaces", 6));
}

hg_err store_token_grant_norm(const char *grant, char *out, size_t cap)
{
    const char *seg[4];
    size_t len[4], n = 0;
    const char *p = grant;
    while (1) {
        if (n == 4)
            return HG_ERR_INVAL;
        const char *slash = strchr(p, '/');
        seg[n] = p;
        len[n] = slash ? (size_t)(slash - p) : strlen(p);
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    size_t at = 0;
    char types[16] = "";
    if (n >= 1 && types_prefix(seg[0], len[0])) {
        snprintf(types, sizeof types, "%.*s/", (int)len[0], seg[0]);
        at = 1;
    }
    size_t m = n - at; /* segments after the type */
    int w;
    if (m == 0)
        w = snprintf(out, cap, "%s*", types); /* "datasets": every dataset */
    else if (m == 1 && len[at] == 1 && seg[at][0] == '*')
        w = snprintf(out, cap, "%s*", types);
    else if (m == 1 && name_ok(seg[at], len[at]))
        w = snprintf(out, cap, "%s%.*s/*", types, (int)len[at], seg[at]);
    else if (m == 2 && name_ok(seg[at], len[at]) && len[at + 1] == 1 && seg[at + 1][0] == '*')
        w = snprintf(out, cap, "%s%.*s/*", types, (int)len[at], seg[at]);
    else if (m == 2 && name_ok(seg[at], len[at]) && name_ok(seg[at + 1], len[at + 1]))
        w = snprintf(out, cap, "%s%.*s/%.*s", types, (int)len[at], seg[at], (int)len[at + 1], seg[at + 1]);
    else
        return HG_ERR_INVAL;
    return w < 0 || (size_t)w >= cap ? HG_ERR_INVAL : HG_OK;
}

/* One normalised grant g[0..n) against a repo. */
static int grant_covers(const char *g, size_t n, store_repo_type type, const char *repo)
{
    static const char *const types[] = {"models/", "datasets/", "spaces/"};
    for (int t = 0; t < 3; t++) {
        size_t tl = strlen(types[t]);
        if (n > tl && !strncmp(g, types[t], tl)) {
            if ((int)type != t)
                return 0;
            g += tl;
            n -= tl;
            break;
        }
    }
    if (n == 1 && g[0] == '*')
        return 1;
    if (n >= 2 && g[n - 1] == '*' && g[n - 2] == '/') {
        /* "ORG/" and a star: the repo's organisation (all of a legacy one-segment id). */
        const char *slash = strchr(repo, '/');
        size_t ol = slash ? (size_t)(slash - repo) : strlen(repo);
        return ol == n - 2 && !strncmp(repo, g, ol);
    }
    return strlen(repo) == n && !strncmp(repo, g, n);
}

int store_token_grants_cover(const char *grants, store_repo_type type, const char *repo)
{
    const char *p = grants;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && grant_covers(p, n, type, repo))
            return 1;
        p += n;
    }
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void row_info(sqlite3_stmt *s, store_token_info *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(s, 0);
    const char *name = (const char *)sqlite3_column_text(s, 1);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    if (sqlite3_column_bytes(s, 2) == 32) {
        char full[65];
        hex(sqlite3_column_blob(s, 2), 32, full);
        memcpy(t->fingerprint, full, 8);
    }
    const char *g = (const char *)sqlite3_column_text(s, 3);
    snprintf(t->grants, sizeof t->grants, "%s", g ? g : "");
    t->created = sqlite3_column_int64(s, 4);
    t->expires = sqlite3_column_int64(s, 5);
    t->revoked = sqlite3_column_int64(s, 6);
}

hg_err store_token_create(store *st, const char *name, const char *const *grants, size_t ngrants,
                          int64_t expires, char *token, size_t cap, store_token_info *out)
{
    if (cap <= STORE_TOKEN_LEN)
        return HG_ERR_TOOBIG;
    if (name && (!*name || strlen(name) >= sizeof out->name || all_digits(name) || strchr(name, ' ') ||
                 strchr(name, '\t') || strchr(name, '\n')))
        return HG_ERR_INVAL; /* digits alone would read as an id in revoke */
    char list[STORE_TOKEN_GRANTS_MAX];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < ngrants; i++) {
        char g[512];
        if (store_token_grant_norm(grants[i], g, sizeof g))
            return HG_ERR_INVAL;
        size_t n = strlen(g);
        if (o + n + 2 > sizeof list)
            return HG_ERR_TOOBIG;
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? " " : "", g);
    }
    uint8_t rnd[20];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        HG_ERROR("getrandom: %s", strerror(errno));
        return HG_ERR_IO;
    }
    char h[41];
    hex(rnd, sizeof rnd, h);
    OPENSSL_cleanse(rnd, sizeof rnd);
    snprintf(token, cap, "%s%s", STORE_TOKEN_PREFIX, h);
    OPENSSL_cleanse(h, sizeof h);
    uint8_t md[32];
    sha256(token, md);
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_TOKEN_INSERT, &c);
    if (!s)
        return HG_ERR_IO;
    int64_t now = (int64_t)time(NULL);
    if (name)
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_blob(s, 2, md, 32, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, list, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    sqlite3_bind_int64(s, 5, expires);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE) {
        OPENSSL_cleanse(token, cap);
        return (r & 0xff) == SQLITE_CONSTRAINT ? HG_ERR_CORRUPT : store_sql_err(c, r, "token insert");
    }
    if (out) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_last_insert_rowid(c->db);
        snprintf(out->name, sizeof out->name, "%s", name ? name : "");
        store_token_fingerprint(token, out->fingerprint);
        memcpy(out->grants, list, o + 1);
        out->created = now;
        out->expires = expires;
    }
    return HG_OK;
}

hg_err store_token_list(store *st, store_token_cb cb, void *arg)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_TOKEN_LIST, &c);
    if (!s)
        return HG_ERR_IO;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        store_token_info t;
        row_info(s, &t);
        if (cb(arg, &t))
            break;
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "token list");
}

hg_err store_token_revoke(store *st, const char *id_or_name, store_token_info *out)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_TOKEN_FIND, &c);
    if (!s)
        return HG_ERR_IO;
    if (all_digits(id_or_name) && strlen(id_or_name) < 18)
        sqlite3_bind_int64(s, 1, strtoll(id_or_name, NULL, 10));
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_text(s, 2, id_or_name, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        return r == SQLITE_DONE ? HG_ERR_NOTFOUND : store_sql_err(c, r, "token lookup");
    }
    row_info(s, out);
    sqlite3_reset(s);
    if (out->revoked)
        return HG_OK;
    s = store_stmt(c, STMT_TOKEN_REVOKE);
    if (!s)
        return HG_ERR_IO;
    out->revoked = (int64_t)time(NULL);
    sqlite3_bind_int64(s, 1, out->id);
    sqlite3_bind_int64(s, 2, out->revoked);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "token revoke");
}

/* A token row is valid while it is neither revoked nor past its expiry (0: never). */
static int token_live(int64_t expires, int64_t revoked)
{
    return !revoked && (expires == 0 || expires > (int64_t)time(NULL));
}

hg_err store_token_allows(store *st, const char *token, store_repo_type type, const char *repo, int64_t *id)
{
    if (strncmp(token, STORE_TOKEN_PREFIX, sizeof STORE_TOKEN_PREFIX - 1) || strlen(token) != STORE_TOKEN_LEN)
        return HG_ERR_DENIED; /* not one of ours: no need to ask the index */
    uint8_t md[32];
    sha256(token, md);
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_TOKEN_BY_HASH, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, md, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        return r == SQLITE_DONE ? HG_ERR_DENIED : store_sql_err(c, r, "token lookup");
    }
    int ok = sqlite3_column_bytes(s, 1) == 32 && CRYPTO_memcmp(sqlite3_column_blob(s, 1), md, 32) == 0;
    const char *grants = (const char *)sqlite3_column_text(s, 2);
    ok = ok && token_live(sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4)) && grants &&
         store_token_grants_cover(grants, type, repo);
    if (ok && id)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return ok ? HG_OK : HG_ERR_DENIED;
}

hg_err store_token_alive(store *st, int64_t id)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_TOKEN_ALIVE, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        return r == SQLITE_DONE ? HG_ERR_DENIED : store_sql_err(c, r, "token lookup");
    }
    int live = token_live(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1));
    sqlite3_reset(s);
    return live ? HG_OK : HG_ERR_DENIED;
}
