/*
 * cmd_serve.c - 'hubgate serve': the gateway in the foreground until SIGINT/SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http/http.h"
#include "hub/hub.h"
#include "store/store.h"
#include "util/hg_log.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: hubgate serve --data DIR [--listen HOST:PORT] [--public-url URL] [--no-upstream]\n"
            "                     [--threads N] [--log-level error|warn|info|debug]\n"
            "  --data DIR        content store (created if missing)\n"
            "  --listen ADDR     address to listen on (default 0.0.0.0:8080; port 0 picks one)\n"
            "  --public-url URL  base URL clients use to reach this server, for Links, casUrl and\n"
            "                    signed xorb URLs (default http://127.0.0.1:PORT)\n"
            "  --no-upstream     serve local (imported) repos only; this build has no upstream yet\n"
            "  --threads N       HTTP worker threads (default: number of cores)\n");
}

int cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *listen = "0.0.0.0:8080", *public_url = NULL, *level = NULL;
    unsigned threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            serve_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-upstream")) {
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
        } else if (!strcmp(a, "--upstream") || !strcmp(a, "--upstream-token-file")) {
            fprintf(stderr, "hubgate serve: %s: the pull-through cache is not part of this build yet\n", a);
            return 2;
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
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    store *st = NULL;
    hub *h = NULL;
    http_server *srv = NULL;
    hg_err rc = store_open(data, NULL, &st);
    if (rc) {
        fprintf(stderr, "hubgate serve: cannot open the store in %s: %s\n", data, hg_strerror(rc));
        return 1;
    }
    http_server_options so = {.listen = listen, .threads = threads};
    /* The default public URL depends on the bound port (port 0 picks one): set it once the
     * socket is bound, before the first request can be accepted by the workers... the race is
     * harmless in practice (a request in that instant sees the port-less URL) but we avoid it
     * by binding first: http_server_start binds and listens before any worker runs. */
    char url[512];
    hub_config hc = {.public_url = public_url};
    rc = hub_new(st, &(hub_config){.public_url = "http://127.0.0.1"}, &h);
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
        http_server_stop(&srv);
        hub_free(&h);
        store_close(&st);
        return 1;
    }
    HG_INFO("hubgate %s serving %s on %s (port %u), public URL %s, %u threads", HG_VERSION, data, listen,
            http_server_port(srv), hc.public_url, threads);
    printf("listening on port %u\n", http_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    HG_INFO("signal %d: stopping", sig);
    http_server_stop(&srv);
    hub_free(&h);
    store_close(&st);
    return 0;
}
