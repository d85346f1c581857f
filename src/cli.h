/*
 * cli.h - the hubgate executable's subcommands.  Each takes argv after its own name, prints to
 * stdout/stderr, and returns the process exit status (0 ok, 1 failure, 2 usage error).
 * Commands only parse flags, call the core library and print; logic lives in lib/.
 */
#ifndef HG_CLI_H
#define HG_CLI_H

#include <stdint.h>

int cmd_xet(int argc, char **argv);
void cmd_xet_usage(void);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_gc(int argc, char **argv);

/* "0", "512M", "20G", "10%": bytes, or a share of the file system holding dir.  -1 if bad. */
int cli_parse_size(const char *s, const char *dir, uint64_t *out);

struct store;
/* Opens the store in data for a command named what ("import", "token create"); NULL after
 * saying why on stderr. */
struct store *cli_open_store(const char *what, const char *data);
int cmd_serve(int argc, char **argv);
/* scan exits 0 allow, 1 warn, 2 block, 3 error (see cmd_scan.c). */
int cmd_scan(int argc, char **argv);
int cmd_token(int argc, char **argv);

#endif
