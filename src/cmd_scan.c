/*
 * cmd_scan.c - 'hubgate scan [--json] FILE...': the model-file scanner from the command line.
 * Exit status: 0 every file allowed, 1 the worst verdict is warn, 2 a file is blocked,
 * 3 an error (unreadable file, bad usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "scan/scan.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hubgate scan [--json] FILE...\n"
               "  Scans model files (pickle, PyTorch zip and legacy, joblib, safetensors, npy/npz,\n"
               "  Keras .keras and .h5, gguf, onnx; zip members stored or deflated) without\n"
               "  executing them and prints a verdict per file: allow, warn or block, with named\n"
               "  findings.  --json prints one JSON array of\n"
               "  {file, format, verdict, findings: [{id, severity, message, global?, member?,\n"
               "  offset?}]}.\n"
               "  Exit status: 0 all allowed, 1 worst is warn, 2 any block, 3 error (unreadable\n"
               "  file or bad usage).\n");
}

int cmd_scan(int argc, char **argv)
{
    int json = 0, nfiles = 0, worst = 0, error = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--")) {
            nfiles += argc - i - 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hubgate scan: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 3;
        } else {
            nfiles++;
        }
    }
    if (!nfiles) {
        usage(stderr);
        return 3;
    }
    json_t *all = json ? json_array() : NULL;
    if (json && !all)
        return 3;
    int files_only = 0;
    for (int i = 0; i < argc; i++) {
        const char *path = argv[i];
        if (!files_only && !strcmp(path, "--")) {
            files_only = 1;
            continue;
        }
        if (!files_only && path[0] == '-' && path[1])
            continue;
        scan_result r;
        hg_err rc = scan_path(path, &r);
        if (rc) {
            error = 1;
            fprintf(stderr, "hubgate scan: %s: %s\n", path, hg_strerror(rc));
            if (json)
                json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:[]}", "file", path, "format",
                                                     "unreadable", "verdict", "error", "findings"));
            continue;
        }
        if ((int)r.verdict > worst)
            worst = (int)r.verdict;
        if (json) {
            json_t *o = scan_result_json(&r, path);
            if (!o || json_array_append_new(all, o))
                error = 1;
        } else {
            printf("%s: %s (%s)\n", path, scan_verdict_name(r.verdict), r.format);
            for (size_t k = 0; k < r.nfindings; k++) {
                const scan_finding *f = &r.findings[k];
                printf("  %-5s %s", scan_severity_name(f->severity), f->id);
                if (f->member)
                    printf(" [%s]", f->member);
                if (f->offset >= 0)
                    printf(" @%lld", (long long)f->offset);
                printf(": %s\n", f->message);
            }
            if (r.dropped)
                printf("  (%zu further findings omitted)\n", r.dropped);
        }
        scan_result_free(&r);
    }
    if (json) {
        char *s = json_dumps(all, JSON_INDENT(2));
        json_decref(all);
        if (!s)
            return 3;
        puts(s);
        free(s);
    }
    fflush(stdout);
    return error ? 3 : worst;
}
