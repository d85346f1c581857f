/*
 * hg_log.h - one-line log records on stderr: "<UTC time> <level> <message>".
 *
 * The level threshold is process configuration, set once at startup (hg_log_set_level) before
 * threads start; records are written with a single write(2) so lines from different threads
 * never interleave.  Never log secrets (tokens, signed URLs): log fingerprints instead.
 */
#ifndef HG_LOG_H
#define HG_LOG_H

typedef enum { HG_LOG_ERROR = 0, HG_LOG_WARN = 1, HG_LOG_INFO = 2, HG_LOG_DEBUG = 3 } hg_log_level;

void hg_log_set_level(hg_log_level level);
/* Parses error|warn|info|debug; returns -1 if unknown. */
int hg_log_level_parse(const char *s);
void hg_log(hg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define HG_ERROR(...) hg_log(HG_LOG_ERROR, __VA_ARGS__)
#define HG_WARN(...)  hg_log(HG_LOG_WARN, __VA_ARGS__)
#define HG_INFO(...)  hg_log(HG_LOG_INFO, __VA_ARGS__)
#define HG_DEBUG(...) hg_log(HG_LOG_DEBUG, __VA_ARGS__)

#endif
