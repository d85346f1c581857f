/*
 * hubgate.c - entry point: dispatches to subcommands (see cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "hubgate %s - a caching, verifying gateway for Hugging Face Hub repositories\n"
            "\n"
            "usage: hubgate COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  help                 show this help\n"
            "  version              print the version\n"
            "  xet chunk [--variant L|M] FILE|-\n"
            "                       content-defined chunks: '<offset> <length> <chunk hash>' per line\n"
            "  xet hash [--variant L|M] FILE|-\n"
            "                       '<xet file hash> <sha256> <size>'\n"
            "  xet xorb [--variant L|M] FILE|- > OUT\n"
            "                       pack a small file (<= 64 MiB) into one xorb; prints its hash\n"
            "                       on stderr\n"
            "  xet xorb-info FILE   validate a serialized xorb, list its chunks and hash\n"
            "  xet shard-info FILE  validate a shard and print its files and xorbs\n"
            "  serve --data DIR [--listen HOST:PORT] [--public-url URL] [--no-upstream]\n"
            "                       serve the Hub and Xet API from the store (see serve --help)\n"
            "  import --data DIR [--type T] [--revision B] [--tag T] [--message M] SRC REPO_ID\n"
            "                       import a folder as a new commit; prints the commit id\n"
            "  verify --data DIR    re-hash everything in the store and report problems\n"
            "  gc --data DIR [--dry-run] [--evict-upstream-to SIZE]\n"
            "                       remove orphan xorb files left by interrupted imports and\n"
            "                       downloads; evict upstream files, least recently used first\n"
            "                       (see gc --help)\n"
            "  scan [--json] FILE...  judge model files (pickle, torch, safetensors, ...): allow,\n"
            "                       warn or block; exit 0/1/2, 3 on error (see scan --help)\n"
            "  token create|list|revoke --data DIR ...\n"
            "                       access tokens for private local repos (see token --help)\n"
            "\n"
            "Hashes are printed in Xet hex.  The chunker defaults to xet-core's rule (variant M);\n"
            "variant L is huggingface.js's rule.  '-' reads standard input.\n",
            HG_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("hubgate %s\n", HG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "xet"))
        return cmd_xet(argc - 2, argv + 2);
    if (!strcmp(cmd, "import"))
        return cmd_import(argc - 2, argv + 2);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc - 2, argv + 2);
    if (!strcmp(cmd, "gc"))
        return cmd_gc(argc - 2, argv + 2);
    if (!strcmp(cmd, "token"))
        return cmd_token(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "scan"))
        return cmd_scan(argc - 2, argv + 2);
    fprintf(stderr, "hubgate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
