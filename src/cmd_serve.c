/*
 * cmd_serve.c - 'hubgate serve': the gateway in the foreground until SIGINT/SIGTERM; SIGHUP
 * re-reads the policy file and reopens the audit log.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http/http.h"
#include "hub/hub.h"
#include "hub/hub_audit.h"
#include "hub/hub_policy.h"
#include "hub/hub_scan.h"
#include "store/store.h"
#include "upstream/upstream.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

int cli_parse_size(const char *s, const char *dir, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (*end == '%' && !end[1]) {
        struct statvfs vfs;
        if (v > 100 || statvfs(dir, &vfs))
            return -1;
        *out = (uint64_t)((double)vfs.f_blocks * (double)vfs.f_frsize * v / 100);
        return 0;
    }
    double mul = 1;
    switch (*end) {
    case 'T': mul *= 1024; /* fall through */
    case 'G': mul *= 1024; /* fall through */
    case 'M': mul *= 1024; /* fall through */
    case 'K': mul *= 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end)
        return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: hubgate serve --data DIR [--listen HOST:PORT] [--public-url URL]\n"
            "                     [--upstream URL | --no-upstream] [--upstream-token-file FILE]\n"
            "                     [--ref-ttl SECONDS] [--auth-ttl SECONDS] [--threads N]\n"
            "                     [--policy FILE] [--audit-log FILE] [--file-cache SIZE]\n"
            "                     [--scan block|warn|off]\n"
            "                     [--log-level error|warn|info|debug]\n"
            "  --data DIR        content store (created if missing)\n"
            "  --listen ADDR     address to listen on (default 0.0.0.0:8080; port 0 picks one)\n"
            "  --public-url URL  base URL clients use to reach this server, for Links, casUrl and\n"
            "                    signed xorb URLs (default http://127.0.0.1:PORT)\n"
            "  --upstream URL    the Hub to pull through (default https://huggingface.co); repos not\n"
            "                    imported locally are fetched from it once, verified and cached\n"
            "  --no-upstream     serve local (imported) repos only\n"
            "  --upstream-token-file FILE\n"
            "                    the gateway's own upstream token (default: $HF_TOKEN); clients'\n"
            "                    Authorization headers are forwarded for their own requests\n"
            "  --ref-ttl S       seconds a branch/tag answer from upstream is reused (default 60)\n"
            "  --auth-ttl S      seconds upstream's answer to a client token is reused for that\n"
            "                    token, gated and private repos included (default 300); public\n"
            "                    answers (fetched without a token) serve every client; a Xet\n"
            "                    read token issued to a client token lives no longer\n"
            "  --threads N       HTTP worker threads (default: number of cores)\n"
            "  --policy FILE     serving policy (JSON), for local and upstream repos:\n"
            "                      {\"default\": \"allow\"|\"deny\", \"scan\": \"block\"|\"warn\"|\"off\",\n"
            "                       \"rules\": [{\"action\": \"allow\"|\"deny\", \"repo\": GLOB, \"org\": ORG,\n"
            "                                  \"type\": \"model\"|\"dataset\"|\"space\",\n"
            "                                  \"revision\": COMMIT (pin: other revisions are denied),\n"
            "                                  \"files\": GLOB, \"formats\": [\"pickle\", ...],\n"
            "                                  \"reason\": TEXT}, ...]}\n"
            "                    first matching rule wins; a rule matches when all its conditions\n"
            "                    hold; files/formats apply to file requests only; formats: pickle\n"
            "                    (.bin .pt .pth .pkl .ckpt .joblib .pickle), safetensors, gguf, onnx,\n"
            "                    keras, numpy, tensorflow, msgpack.  Denials: 403, X-Error-Code\n"
            "                    PolicyDenied.  Re-read when the file changes and on SIGHUP (a broken\n"
            "                    file keeps the previous policy; at startup it is fatal)\n"
            "  --audit-log FILE  append one JSON line per repo or content request (README \"Audit\n"
            "                    log\"); reopened on SIGHUP and when the file is renamed or removed\n"
            "  --file-cache SIZE room for plain copies of files of 1 MiB and more, made once a file\n"
            "                    is downloaded and then served with sendfile (least recently served\n"
            "                    evicted first): bytes with K, M, G or T, or a percentage of the data\n"
            "                    directory's file system (default 10%%); 0 turns it off\n"
            "  --scan MODE       the model-file scanner on every LFS file (hubgate scan), once per\n"
            "                    content: block (default) refuses files it blocks (403\n"
            "                    BlockedByScanner) and holds cold pickle/zip downloads back until\n"
            "                    judged; warn serves everything, flagged in X-Hubgate-Scan; off\n");
}

int cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *listen = "0.0.0.0:8080", *public_url = NULL, *level = NULL;
    const char *upstream_url = "https://huggingface.co", *token_file = NULL;
    const char *policy_path = NULL, *audit_path = NULL, *file_cache = "10%";
    int scan_mode = HUB_SCAN_BLOCK;
    unsigned threads = 0, ref_ttl = 0, auth_ttl = 0;
    int no_upstream = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            serve_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-upstream")) {
            no_upstream = 1;
            continue;
        } else if (!v || a[0] != '-' || a[1] != '-') {
            fprintf(stderr, "hubgate serve: unexpected argument '%s'\n", a);
            serve_usage(stderr);
            return 2;
        } else if (!strcmp(a, "--data")) {
            data = v;
        } else if (!strcmp(a, "--listen")) {
            listen = v;
        } else if (!strcmp(a, "--public-url")) {
            public_url = v;
        } else if (!strcmp(a, "--threads")) {
            threads = (unsigned)strtoul(v, NULL, 10);
            if (threads == 0 || threads > 256) {
                fprintf(stderr, "hubgate serve: --threads must be 1..256\n");
                return 2;
            }
        } else if (!strcmp(a, "--log-level")) {
            level = v;
        } else if (!strcmp(a, "--upstream")) {
            if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
                fprintf(stderr, "hubgate serve: --upstream must be an http:// or https:// URL\n");
                return 2;
            }
            upstream_url = v;
        } else if (!strcmp(a, "--upstream-token-file")) {
            token_file = v;
        } else if (!strcmp(a, "--policy")) {
            policy_path = v;
        } else if (!strcmp(a, "--audit-log")) {
            audit_path = v;
        } else if (!strcmp(a, "--scan")) {
            scan_mode = hub_scan_mode_parse(v);
            if (scan_mode < 0) {
                fprintf(stderr, "hubgate serve: --scan must be block, warn or off, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--file-cache")) {
            uint64_t probe;
            if (cli_parse_size(v, "/", &probe)) {
                fprintf(stderr, "hubgate serve: --file-cache wants bytes (K, M, G, T) or a percentage, not '%s'\n", v);
                return 2;
            }
            file_cache = v;
        } else if (!strcmp(a, "--ref-ttl") || !strcmp(a, "--auth-ttl")) {
            char *end;
            unsigned long t = strtoul(v, &end, 10);
            if (*end || t == 0 || t > 86400) {
                fprintf(stderr, "hubgate serve: %s must be 1..86400 seconds\n", a);
                return 2;
            }
            *(a[2] == 'r' ? &ref_ttl : &auth_ttl) = (unsigned)t;
        } else {
            fprintf(stderr, "hubgate serve: unknown option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        i++;
    }
    if (!data) {
        fprintf(stderr, "hubgate serve: --data DIR is required\n");
        serve_usage(stderr);
        return 2;
    }
    if (level) {
        int l = hg_log_level_parse(level);
        if (l < 0) {
            fprintf(stderr, "hubgate serve: unknown log level '%s'\n", level);
            return 2;
        }
        hg_log_set_level((hg_log_level)l);
    }
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    /* Block the stop signals before any thread starts, then wait for them here. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    hub_policy_file *policy = NULL;
    hub_audit *audit = NULL;
    if (policy_path) {
        char err[512];
        if (hub_policy_file_open(policy_path, &policy, err, sizeof err)) {
            fprintf(stderr, "hubgate serve: bad policy file %s: %s\n", policy_path, err);
            return 1;
        }
    }
    if (audit_path && hub_audit_open(audit_path, &audit)) {
        fprintf(stderr, "hubgate serve: cannot open the audit log %s\n", audit_path);
        hub_policy_file_close(&policy);
        return 1;
    }

    char *token = NULL;
    if (token_file) {
        size_t tl = 0;
        if (hg_read_file(token_file, 4096, &token, &tl)) {
            fprintf(stderr, "hubgate serve: cannot read the token file %s\n", token_file);
            hub_policy_file_close(&policy);
            hub_audit_close(&audit);
            return 1;
        }
        while (tl && (token[tl - 1] == '\n' || token[tl - 1] == '\r' || token[tl - 1] == ' '))
            token[--tl] = '\0';
    } else if (getenv("HF_TOKEN") && *getenv("HF_TOKEN")) {
        token = strdup(getenv("HF_TOKEN"));
    }
    upstream *up = NULL;
    if (!no_upstream) {
        upstream_config uc = {.base_url = upstream_url, .token = token, .retries = 3};
        if (upstream_new(&uc, &up)) {
            fprintf(stderr, "hubgate serve: cannot set up the upstream client\n");
            free(token);
            hub_policy_file_close(&policy);
            hub_audit_close(&audit);
            return 1;
        }
    }
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    store *st = NULL;
    hub *h = NULL;
    http_server *srv = NULL;
    hg_err rc = store_open(data, NULL, &st);
    if (rc) {
        fprintf(stderr, "hubgate serve: cannot open the store in %s: %s\n", data, hg_strerror(rc));
        upstream_free(&up);
        hub_policy_file_close(&policy);
        hub_audit_close(&audit);
        return 1;
    }
    int serve_lock = -1;
    if ((rc = store_serve_lock(st, &serve_lock))) {
        fprintf(stderr, "hubgate serve: %s\n", rc == HG_ERR_AGAIN ? "hubgate gc is evicting from this store; start "
                                                                  "again when it is done"
                                                                : "cannot lock the store");
        store_close(&st);
        upstream_free(&up);
        hub_policy_file_close(&policy);
        hub_audit_close(&audit);
        return 1;
    }
    uint64_t file_cache_bytes = 0;
    if (cli_parse_size(file_cache, data, &file_cache_bytes))
        file_cache_bytes = 0;
    http_server_options so = {.listen = listen, .threads = threads};
    /* The default public URL depends on the bound port (port 0 picks one): set it once the
     * socket is bound, before the first request can be accepted by the workers... the race is
     * harmless in practice (a request in that instant sees the port-less URL) but we avoid it
     * by binding first: http_server_start binds and listens before any worker runs. */
    char url[512];
    hub_config hc = {.public_url = public_url};
    rc = hub_new(st, &(hub_config){.public_url = "http://127.0.0.1", .up = up, .ref_ttl_s = ref_ttl, .auth_ttl_s = auth_ttl,
                                .policy = policy, .audit = audit, .file_cache = file_cache_bytes,
                                .scan_mode = scan_mode}, &h);
    if (!rc)
        rc = http_server_start(&so, hub_handle, h, &srv);
    if (!rc && !public_url) {
        snprintf(url, sizeof url, "http://127.0.0.1:%u", http_server_port(srv));
        hc.public_url = url;
    }
    if (!rc)
        rc = hub_set_public_url(h, hc.public_url);
    if (rc) {
        fprintf(stderr, "hubgate serve: cannot start on %s: %s\n", listen, hg_strerror(rc));
        hub_stop(h);
        http_server_stop(&srv);
        hub_free(&h);
        store_unlock(&serve_lock);
        store_close(&st);
        upstream_free(&up);
        hub_policy_file_close(&policy);
        hub_audit_close(&audit);
        return 1;
    }
    HG_INFO("hubgate %s serving %s on %s (port %u), public URL %s, %u threads, upstream %s", HG_VERSION, data,
            listen, http_server_port(srv), hc.public_url, threads, up ? upstream_base_url(up) : "none");
    if (file_cache_bytes)
        HG_INFO("plain-file cache: up to %.1f GiB in %s/files", (double)file_cache_bytes / (1 << 30), data);
    printf("listening on port %u\n", http_server_port(srv));
    fflush(stdout);
    int sig = 0;
    /* The signals are waited for here, on the main thread: reloading needs no async-signal
     * safety.  Request threads pick up the new policy at their next request. */
    while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
        HG_INFO("SIGHUP: re-reading the policy, reopening the audit log");
        if (policy) {
            hg_err pr = hub_policy_file_reload(policy);
            (void)pr; /* a broken file was logged; the previous policy stays */
        }
        if (audit)
            hub_audit_reopen(audit);
    }
    HG_INFO("signal %d: stopping", sig);
    hub_stop(h); /* deferred requests are answered before the server goes */
    http_server_stop(&srv);
    hub_free(&h);
    store_unlock(&serve_lock);
    store_close(&st);
    upstream_free(&up);
    hub_policy_file_close(&policy); /* after the server: no request uses them any more */
    hub_audit_close(&audit);
    return 0;
}
