/*
 * cmd_store.c - 'hubgate import', 'verify' and 'gc': the content store from the command line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "store/store.h"
#include "util/hg_log.h"

static void import_usage(FILE *f)
{
    fprintf(f, "usage: hubgate import --data DIR [--type model|dataset|space] [--revision BRANCH]\n"
               "                      [--tag TAG] [--message MSG] [--author 'Name <email>']\n"
               "                      [--date UNIX_SECONDS] [--private] SRC_DIR REPO_ID\n"
               "Imports the files under SRC_DIR as a new commit of REPO_ID (created if needed) and\n"
               "prints the commit id.  Unchanged content costs no new storage.\n");
}

store *cli_open_store(const char *what, const char *data)
{
    store *st = NULL;
    hg_err rc = store_open(data, NULL, &st);
    if (rc) {
        fprintf(stderr, "hubgate %s: cannot open the store in %s: %s\n", what, data, hg_strerror(rc));
        return NULL;
    }
    return st;
}

/* Returns the value of a flag at argv[*i] ("--x V" or "--x=V"), advancing *i; NULL if absent. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, int *err)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "hubgate: %s needs a value\n", name);
        *err = 1;
        return NULL;
    }
    return argv[++*i];
}

int cmd_import(int argc, char **argv)
{
    const char *data = NULL, *type = "model", *branch = "main", *tag = NULL, *msg = NULL;
    const char *author = NULL, *date = NULL;
    const char *pos[2] = {NULL, NULL};
    int npos = 0, priv = 0, err = 0;
    for (int i = 0; i < argc && !err; i++) {
        const char *v;
        if ((v = flag_value(argc, argv, &i, "--data", &err)))
            data = v;
        else if ((v = flag_value(argc, argv, &i, "--type", &err)))
            type = v;
        else if ((v = flag_value(argc, argv, &i, "--revision", &err)))
            branch = v;
        else if ((v = flag_value(argc, argv, &i, "--tag", &err)))
            tag = v;
        else if ((v = flag_value(argc, argv, &i, "--message", &err)))
            msg = v;
        else if ((v = flag_value(argc, argv, &i, "--author", &err)))
            author = v;
        else if ((v = flag_value(argc, argv, &i, "--date", &err)))
            date = v;
        else if (err)
            break;
        else if (!strcmp(argv[i], "--private"))
            priv = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            import_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "hubgate import: unknown option '%s'\n", argv[i]);
            err = 1;
        } else if (npos < 2)
            pos[npos++] = argv[i];
        else {
            fprintf(stderr, "hubgate import: too many arguments\n");
            err = 1;
        }
    }
    if (err || !data || npos != 2) {
        if (!err)
            fprintf(stderr, "hubgate import: %s\n", !data ? "--data DIR is required" : "SRC_DIR and REPO_ID are required");
        import_usage(stderr);
        return 2;
    }
    store_import_options opt = {.repo = pos[1], .branch = branch, .tag = tag, .message = msg,
                                .author = author, .private_ = priv};
    if (date) {
        char *end;
        long long t = strtoll(date, &end, 10);
        if (*end || t <= 0) {
            fprintf(stderr, "hubgate import: --date must be a positive number of Unix seconds\n");
            return 2;
        }
        opt.time = t;
    }
    if (store_repo_type_parse(type, &opt.type)) {
        fprintf(stderr, "hubgate import: --type must be model, dataset or space, not '%s'\n", type);
        return 2;
    }
    if (store_import_validate(&opt))
        return 2; /* before store_open: a bad id must not leave an empty store behind */
    struct stat sb;
    if (stat(pos[0], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "hubgate import: %s is not a directory\n", pos[0]);
        return 1;
    }
    store *st = cli_open_store("import", data);
    if (!st)
        return 1;
    store_import_result res;
    hg_err rc = store_import_dir(st, pos[0], &opt, &res);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "hubgate import: failed: %s\n", hg_strerror(rc));
        return 1;
    }
    char hex[GIT_OID_HEX_LEN + 1];
    git_oid_to_hex(&res.commit, hex);
    HG_INFO("import %s %s@%s: %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " new chunk bytes, %" PRIu64
            " bytes written in %" PRIu64 " xorbs%s",
            store_repo_type_name(opt.type), opt.repo, branch, res.files, res.stats.logical_bytes,
            res.stats.new_chunk_bytes, res.stats.stored_bytes, res.stats.xorbs,
            res.unchanged ? " (unchanged: no new commit)" : "");
    printf("%s\n", hex);
    return 0;
}

/* gc must not create a store where there is not even the directory (a typo in --data).  A
 * directory an import was killed in before its index existed opens. */
static int no_store(const char *cmd, const char *data)
{
    struct stat sb;
    if (stat(data, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    fprintf(stderr, "hubgate %s: no store in %s (not a directory)\n", cmd, data);
    return 1;
}

int cmd_verify(int argc, char **argv)
{
    const char *data = NULL;
    int err = 0;
    for (int i = 0; i < argc && !err; i++) {
        const char *v;
        if ((v = flag_value(argc, argv, &i, "--data", &err)))
            data = v;
        else if (!err) {
            fprintf(stderr, "hubgate verify: unknown argument '%s'\n", argv[i]);
            err = 1;
        }
    }
    if (err || !data) {
        fprintf(stderr, "usage: hubgate verify --data DIR\n");
        return 2;
    }
    store *st = cli_open_store("verify", data);
    if (!st)
        return 1;
    store_verify_report rep;
    hg_err rc = store_verify(st, &rep);
    uint64_t logical = 0, stored = 0, unique = 0;
    if (!rc)
        rc = store_usage(st, &logical, &stored, &unique);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "hubgate verify: failed: %s\n", hg_strerror(rc));
        return 1;
    }
    printf("xorbs %" PRIu64 " (bad %" PRIu64 ", missing %" PRIu64 ")\n", rep.xorbs, rep.xorbs_bad, rep.xorbs_missing);
    printf("contents %" PRIu64 " (bad %" PRIu64 ")\n", rep.contents, rep.contents_bad);
    printf("commits %" PRIu64 " (bad %" PRIu64 ")\n", rep.commits, rep.commits_bad);
    printf("orphan files %" PRIu64 "\n", rep.orphan_files);
    printf("logical bytes %" PRIu64 ", unique chunk bytes %" PRIu64 ", stored bytes %" PRIu64 "\n", logical, unique, stored);
    int bad = rep.xorbs_bad || rep.xorbs_missing || rep.contents_bad || rep.commits_bad;
    printf("%s\n", bad ? "PROBLEMS FOUND" : "OK");
    return bad ? 1 : 0;
}

static void gc_usage(FILE *f)
{
    fprintf(f, "usage: hubgate gc --data DIR [--dry-run] [--wait SECONDS] [--evict-upstream-to SIZE]\n"
               "Removes the xorb files no index row refers to: what imports and downloads that\n"
               "never finished left behind ('orphan files' in hubgate verify).  Safe while\n"
               "hubgate serve and imports run: the files are deleted only once no import or\n"
               "download is writing to the store, waiting up to --wait seconds (default 60)\n"
               "for that; exit status 1 if it does not happen.\n"
               "  --dry-run   report what would be removed, remove nothing\n"
               "  --evict-upstream-to SIZE\n"
               "              first evict files fetched from upstream, least recently used\n"
               "              first, until the store's xorbs take at most SIZE (\"0\" for all,\n"
               "              \"500G\", \"50%%\" of the file system).  Files of local repos (import)\n"
               "              are never evicted; upstream is asked again for an evicted file.\n"
               "              Only while hubgate serve is stopped on this store.\n");
}

/* The eviction part of gc; 0 or an exit status. */
static int gc_evict(store *st, const char *data, const char *size, unsigned wait_s)
{
    uint64_t target;
    if (cli_parse_size(size, data, &target)) {
        fprintf(stderr, "hubgate gc: --evict-upstream-to needs a size (\"0\", \"500G\", \"50%%\"), not '%s'\n", size);
        return 2;
    }
    store_evict_report ev;
    hg_err rc = store_evict_upstream(st, target, wait_s, &ev);
    if (rc == HG_ERR_AGAIN) {
        fprintf(stderr, "hubgate gc: %s is using the store; nothing evicted%s\n", ev.busy ? ev.busy : "another process",
                ev.busy && !strcmp(ev.busy, "hubgate serve") ? " (stop it first)" : "");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "hubgate gc: eviction failed: %s\n", hg_strerror(rc));
        return 1;
    }
    printf("evicted %" PRIu64 " upstream files (%" PRIu64 " bytes) and %" PRIu64 " xorbs (%" PRIu64
           " bytes); stored bytes %" PRIu64 " -> %" PRIu64 "\n",
           ev.contents, ev.content_bytes, ev.xorbs, ev.xorb_bytes, ev.stored_before, ev.stored_after);
    return 0;
}

int cmd_gc(int argc, char **argv)
{
    const char *data = NULL, *wait = "60", *evict = NULL;
    int err = 0, dry = 0;
    for (int i = 0; i < argc && !err; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            gc_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dry-run")) {
            dry = 1;
        } else if ((v = flag_value(argc, argv, &i, "--data", &err))) {
            data = v;
        } else if ((v = flag_value(argc, argv, &i, "--wait", &err))) {
            wait = v;
        } else if ((v = flag_value(argc, argv, &i, "--evict-upstream-to", &err))) {
            evict = v;
        } else if (!err) {
            fprintf(stderr, "hubgate gc: unknown argument '%s'\n", argv[i]);
            err = 1;
        }
    }
    char *end = NULL;
    unsigned long wait_s = err ? 0 : strtoul(wait, &end, 10);
    if (!err && (!*wait || *end || *wait == '-' || wait_s > 86400)) {
        fprintf(stderr, "hubgate gc: --wait needs a number of seconds (0 to 86400), not '%s'\n", wait);
        err = 1;
    }
    if (!err && dry && evict) {
        fprintf(stderr, "hubgate gc: --dry-run does not apply to --evict-upstream-to\n");
        err = 1;
    }
    if (err || !data) {
        gc_usage(stderr);
        return 2;
    }
    if (no_store("gc", data))
        return 1;
    store *st = cli_open_store("gc", data);
    if (!st)
        return 1;
    int status = evict ? gc_evict(st, data, evict, (unsigned)wait_s) : 0;
    if (status) {
        store_close(&st);
        return status;
    }
    store_gc_report rep;
    hg_err rc = store_gc(st, dry, (unsigned)wait_s, &rep);
    store_close(&st);
    if (rc == HG_ERR_AGAIN) {
        fprintf(stderr, "hubgate gc: imports or downloads kept writing to the store for %lu s; nothing "
                        "removed (try again, or with a longer --wait)\n", wait_s);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "hubgate gc: failed: %s\n", hg_strerror(rc));
        return 1;
    }
    printf("%s %" PRIu64 " orphan xorb files, %" PRIu64 " bytes\n", dry ? "would remove" : "removed",
           rep.orphans, rep.orphan_bytes);
    if (rep.foreign)
        printf("left alone %" PRIu64 " files under xorbs/ that are not xorbs\n", rep.foreign);
    return 0;
}
