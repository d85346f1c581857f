/* libFuzzer target: the DEFLATE decoder must take any bytes without reading or writing out of
 * bounds, never write more than the capacity it is given, and say why when it fails.  The first
 * two bytes choose the capacity (up to 64 KiB) so that "more than declared" is reached too. */
#include <stdlib.h>

#include "scan/scan_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = (size_t)data[0] | (size_t)data[1] << 8;
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out)
        return 0;
    size_t n = 0;
    const char *why = NULL;
    int rc = scan_inflate(data + 2, size - 2, out, cap, &n, &why);
    if (n > cap || (rc != 0 && !why) || (rc == 0 && why))
        abort();
    free(out);
    return 0;
}
