/*
 * hub_scan.c - the model-file scanner in the serving path (see hub_scan.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hub/hub_int.h"
#include "hub/hub_scan.h"
#include "scan/scan.h"
#include "store/store_files.h"
#include "util/hg_log.h"

int hub_scan_mode_parse(const char *s)
{
    return !strcmp(s, "block") ? HUB_SCAN_BLOCK : !strcmp(s, "warn") ? HUB_SCAN_WARN : !strcmp(s, "off") ? HUB_SCAN_OFF : -1;
}

/* The findings at the file's verdict, from a report (scan_result_json text), in one line. */
static void summarise(const char *report, int verdict, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *j = report ? json_loads(report, 0, NULL) : NULL;
    json_t *fs = json_object_get(j, "findings");
    const char *want = scan_severity_name((scan_verdict)verdict);
    size_t used = 0, shown = 0, idx;
    json_t *f;
    json_array_foreach(fs, idx, f)
    {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        if (!sev || strcmp(sev, want) || used + 1 >= cap)
            continue;
        const char *id = json_string_value(json_object_get(f, "id"));
        const char *g = json_string_value(json_object_get(f, "global"));
        const char *m = json_string_value(json_object_get(f, "member"));
        if (shown == 4) {
            used += (size_t)snprintf(out + used, cap - used, "; ...");
            break;
        }
        int n = snprintf(out + used, cap - used, "%s%s%s%s%s%s", shown ? "; " : "", id ? id : "?", g ? " " : "",
                         g ? g : "", m ? " in " : "", m ? m : "");
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
        shown++;
    }
    /* Header values must stay printable ASCII: names in a pickle are attacker-chosen. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    json_decref(j);
}

static void fill_info(hub_scan_info *out, int verdict, const char *format, const char *report)
{
    out->known = 1;
    out->verdict = verdict;
    snprintf(out->format, sizeof out->format, "%s", format ? format : "unknown");
    summarise(report, verdict, out->summary, sizeof out->summary);
}

hg_err hub_scan_fd(store *st, const uint8_t sha256[32], int fd, uint64_t size, const char *name, int keep,
                   hub_scan_info *out)
{
    memset(out, 0, sizeof *out);
    scan_result r;
    hg_err rc = scan_fd(fd, size, name, &r);
    if (rc)
        return rc;
    json_t *j = scan_result_json(&r, name);
    char *report = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    fill_info(out, (int)r.verdict, r.format, report);
    if (keep) {
        store_scan sc = {.verdict = (int)r.verdict, .rules = SCAN_RULES_VERSION, .report = report};
        snprintf(sc.format, sizeof sc.format, "%s", r.format ? r.format : "unknown");
        hg_err src = store_scan_put(st, sha256, &sc);
        if (src)
            HG_WARN("cannot keep the scan verdict of %.200s: %s (it is judged again next time)", name, hg_strerror(src));
        if (r.verdict != SCAN_ALLOW)
            HG_WARN("scanner: %.200s (%s) is %s: %s", name, out->format, scan_verdict_name(r.verdict), out->summary);
        else
            HG_DEBUG("scanner: %.200s (%s) allowed", name, out->format);
    }
    free(report);
    scan_result_free(&r);
    return HG_OK;
}

hg_err hub_scan_stored(store *st, const uint8_t sha256[32], hub_scan_info *out)
{
    memset(out, 0, sizeof *out);
    store_scan sc;
    hg_err rc = store_scan_get(st, sha256, &sc);
    if (!rc && sc.rules != SCAN_RULES_VERSION)
        rc = HG_ERR_NOTFOUND;
    if (!rc)
        fill_info(out, sc.verdict, sc.format, sc.report);
    store_scan_clear(&sc);
    return rc;
}

hg_err hub_scan_content(store *st, const store_content *ct, const char *name, hub_scan_info *out)
{
    hg_err rc = hub_scan_stored(st, ct->sha256, out);
    if (rc != HG_ERR_NOTFOUND)
        return rc;
    /* Not judged yet (imported before, or by older rules): the scanner wants the bytes in one
     * piece; a temporary copy costs one pass over the chunks, once per content. */
    int fd = -1;
    rc = store_files_temp_copy(st, ct, &fd);
    if (!rc) {
        rc = hub_scan_fd(st, ct->sha256, fd, ct->size, name, 1, out);
        close(fd);
    }
    return rc;
}

const char *hub_scan_policy_format(const char *f)
{
    static const char *const map[][2] = {
        {"pickle", "pickle"},     {"pytorch-zip", "pickle"}, {"pytorch-legacy", "pickle"},
        {"joblib", "pickle"},     {"npy", "numpy"},          {"npz", "numpy"},
        {"keras", "keras"},       {"hdf5", "keras"},         {"gguf", "gguf"},
        {"onnx", "onnx"},         {"safetensors", "safetensors"},
    };
    for (size_t i = 0; f && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(f, map[i][0]))
            return map[i][1];
    return NULL;
}

int hub_scan_apply(hub_scan_mode mode, const hub_scan_info *info, const char *path, http_response *resp)
{
    if (mode == HUB_SCAN_OFF || !info->known)
        return 0;
    const char *name = scan_verdict_name((scan_verdict)info->verdict);
    if (info->verdict == SCAN_BLOCK && mode == HUB_SCAN_BLOCK) {
        HG_WARN("refused %.300s: blocked by the scanner (%s: %s)", path, info->format, info->summary);
        hub_error(resp, 403, "BlockedByScanner", "%.200s was blocked by the model-file scanner (%s): %s", path,
                  info->format, info->summary);
        return 1;
    }
    hg_err rc = http_response_header(resp, "X-Hubgate-Scan", "%s", name);
    if (!rc && info->verdict != SCAN_ALLOW && *info->summary)
        rc = http_response_header(resp, "X-Hubgate-Scan-Findings", "%s", info->summary);
    if (info->verdict != SCAN_ALLOW)
        HG_WARN("served %.300s with scanner verdict %s (%s: %s)", path, name, info->format, info->summary);
    (void)rc; /* a missing note header is no reason to fail the download */
    return 0;
}
