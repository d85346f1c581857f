/* libFuzzer target: the xorb parser and chunk-record decoder must reject or accept any bytes
 * without reading out of bounds; what they accept must re-encode to the same chunks. */
#include <stdlib.h>
#include <string.h>

#include "xet/xet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static xet_codec *cx;
    if (!cx && xet_codec_new(&cx))
        abort();
    xet_xorb_info info;
    hg_buf raw;
    hg_buf_init(&raw, 1u << 27);
    if (xet_xorb_parse(cx, data, size, &info, &raw) == HG_OK) {
        /* Round trip: re-encoding the decoded chunks gives the same xorb hash. */
        xet_xorb_writer w;
        xet_xorb_writer_init(&w, cx);
        for (size_t i = 0; i < info.nchunks; i++)
            if (xet_xorb_writer_add(&w, raw.data + info.chunks[i].raw_off, info.chunks[i].raw_len,
                                    XET_SCHEME_AUTO))
                abort();
        xet_hash h;
        if (xet_xorb_writer_hash(&w, &h) || !xet_hash_eq(&h, &info.hash))
            abort();
        xet_xorb_writer_free(&w);
        xet_xorb_info_free(&info);
    }
    hg_buf_free(&raw);
    return 0;
}
