/*
 * cmd_token.c - 'hubgate token create|list|revoke': access tokens for private local repos.
 *
 * The secret is printed once, by create, on stdout alone (so that scripts can capture it);
 * everything else prints fingerprints (first 8 hex digits of its SHA-256), never the token.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "store/store.h"

#define MAX_GRANTS 64

static void token_usage(FILE *f)
{
    fprintf(f,
            "usage: hubgate token create --data DIR [--name NAME] [--grant REPO_OR_ORG]...\n"
            "                            [--expires DAYS]\n"
            "       hubgate token list --data DIR\n"
            "       hubgate token revoke --data DIR ID|NAME\n"
            "Tokens let clients read private local repos (hubgate import --private): clients send\n"
            "'Authorization: Bearer TOKEN' (HF_TOKEN=TOKEN for huggingface_hub).  create prints the\n"
            "token once; only its SHA-256 is stored.  A grant is one of:\n"
            "  ORG/NAME           that repo (any type)     ORG or ORG/*   every repo of ORG\n"
            "  *                  every repo               TYPES/...      the same for one type\n"
            "                                              (models/, datasets/ or spaces/)\n"
            "--expires DAYS (decimals allowed) limits the token's life; revocation takes effect on\n"
            "the next request of a running server.\n");
}

static void when(int64_t t, char out[32])
{
    if (!t) {
        snprintf(out, 32, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_row(void *arg, const store_token_info *t)
{
    (void)arg;
    char created[32], expires[32], revoked[32];
    when(t->created, created);
    when(t->expires, expires);
    when(t->revoked, revoked);
    int64_t now = (int64_t)time(NULL);
    const char *state = t->revoked ? "revoked" : t->expires && t->expires <= now ? "expired" : "active";
    printf("%-4" PRId64 " %-16s %-11s %-7s %-20s %-20s %-20s %s\n", t->id, t->name[0] ? t->name : "-",
           t->fingerprint, state, created, expires, revoked, t->grants[0] ? t->grants : "-");
    return 0;
}

int cmd_token(int argc, char **argv)
{
    if (argc < 1) {
        token_usage(stderr);
        return 2;
    }
    const char *sub = argv[0], *data = NULL, *name = NULL, *expires = NULL, *target = NULL;
    const char *grants[MAX_GRANTS];
    size_t ngrants = 0;
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        token_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke")) {
        fprintf(stderr, "hubgate token: unknown subcommand '%s'\n", sub);
        token_usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            token_usage(stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (strcmp(sub, "revoke") || target) {
                fprintf(stderr, "hubgate token %s: unexpected argument '%s'\n", sub, a);
                return 2;
            }
            target = a;
            continue;
        }
        int takes = !strcmp(a, "--data") || (!strcmp(sub, "create") && (!strcmp(a, "--name") ||
                                                                       !strcmp(a, "--grant") ||
                                                                       !strcmp(a, "--expires")));
        if (!takes) {
            fprintf(stderr, "hubgate token %s: unknown option '%s'\n", sub, a);
            token_usage(stderr);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "hubgate token %s: %s needs a value\n", sub, a);
            return 2;
        }
        if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--expires"))
            expires = v;
        else if (ngrants == MAX_GRANTS) {
            fprintf(stderr, "hubgate token create: at most %d grants\n", MAX_GRANTS);
            return 2;
        } else {
            char norm[512];
            if (store_token_grant_norm(v, norm, sizeof norm)) {
                fprintf(stderr, "hubgate token create: invalid grant '%s' (ORG/NAME, ORG, ORG/*, * or "
                                "the same after models/, datasets/ or spaces/)\n", v);
                return 2;
            }
            grants[ngrants++] = v;
        }
        i++;
    }
    if (!data) {
        fprintf(stderr, "hubgate token %s: --data DIR is required\n", sub);
        return 2;
    }
    if (!strcmp(sub, "revoke") && !target) {
        fprintf(stderr, "hubgate token revoke: which token? give its ID or NAME\n");
        return 2;
    }
    int64_t exp = 0;
    if (expires) {
        char *end;
        double days = strtod(expires, &end);
        if (*end || !(days > 0) || days > 36500) {
            fprintf(stderr, "hubgate token create: --expires must be a number of days in (0, 36500]\n");
            return 2;
        }
        exp = (int64_t)time(NULL) + (int64_t)(days * 86400.0 + 0.999);
    }
    if (name && (!*name || strspn(name, "0123456789") == strlen(name) || strlen(name) > 100 ||
                 strpbrk(name, " \t\r\n"))) {
        fprintf(stderr, "hubgate token create: --name must be 1..100 characters without spaces, not only "
                        "digits\n");
        return 2;
    }
    char what[32];
    snprintf(what, sizeof what, "token %s", sub);
    store *st = cli_open_store(what, data);
    if (!st)
        return 1;
    hg_err rc;
    int status = 0;
    if (!strcmp(sub, "create")) {
        char token[STORE_TOKEN_LEN + 1];
        store_token_info t;
        rc = store_token_create(st, name, grants, ngrants, exp, token, sizeof token, &t);
        if (rc == HG_ERR_CORRUPT) {
            fprintf(stderr, "hubgate token create: a token named '%s' exists already\n", name);
            status = 1;
        } else if (rc) {
            fprintf(stderr, "hubgate token create: failed: %s\n", hg_strerror(rc));
            status = 1;
        } else {
            char e[32];
            when(t.expires, e);
            printf("%s\n", token);
            fflush(stdout);
            OPENSSL_cleanse(token, sizeof token);
            fprintf(stderr, "token %" PRId64 "%s%s fingerprint %s, grants: %s, expires: %s\n"
                            "This is the only time the token is shown.\n",
                    t.id, t.name[0] ? " " : "", t.name, t.fingerprint, t.grants[0] ? t.grants : "(none)",
                    t.expires ? e : "never");
        }
    } else if (!strcmp(sub, "list")) {
        printf("%-4s %-16s %-11s %-7s %-20s %-20s %-20s %s\n", "ID", "NAME", "FINGERPRINT", "STATE", "CREATED",
               "EXPIRES", "REVOKED", "GRANTS");
        rc = store_token_list(st, print_row, NULL);
        if (rc) {
            fprintf(stderr, "hubgate token list: failed: %s\n", hg_strerror(rc));
            status = 1;
        }
    } else {
        store_token_info t;
        rc = store_token_revoke(st, target, &t);
        if (rc == HG_ERR_NOTFOUND) {
            fprintf(stderr, "hubgate token revoke: no token with id or name '%s'\n", target);
            status = 1;
        } else if (rc) {
            fprintf(stderr, "hubgate token revoke: failed: %s\n", hg_strerror(rc));
            status = 1;
        } else {
            printf("revoked token %" PRId64 "%s%s (fingerprint %s)\n", t.id, t.name[0] ? " " : "", t.name,
                   t.fingerprint);
        }
    }
    store_close(&st);
    return status;
}
