/*
 * hub_files.h - the background worker behind the plain-file cache (store_files.h).
 *
 * Requests never wait for it: a download whose content has no verified plain copy is served
 * from the chunks as before and asks the worker (hub_files_want) to make or verify one, so that
 * later downloads go out with sendfile.  The worker keeps the copies within a byte budget,
 * evicting the least recently served.
 *
 * Threading: one worker thread; hub_files_want may be called from any thread and only queues
 * (a bounded queue: requests beyond it are dropped, the next download asks again).
 */
#ifndef HG_HUB_FILES_H
#define HG_HUB_FILES_H

#include <stdint.h>

#include "store/store.h"

/* Contents smaller than this are not worth a second copy: the chunk path serves them fine. */
#define HUB_FILES_MIN_SIZE (1u << 20)

typedef struct hub_files hub_files;

/* Starts the worker with a budget in bytes (0: no plain copies at all; *out is then NULL). */
HG_MUST_CHECK hg_err hub_files_start(store *st, uint64_t budget, hub_files **out);
/* Stops the worker (the job in progress finishes first) and frees everything. */
void hub_files_stop(hub_files **fs);

/* Opens a verified plain copy of ct for sendfile (HG_OK, *fd owned by the caller); otherwise
 * queues the work that makes one and returns HG_ERR_NOTFOUND. */
HG_MUST_CHECK hg_err hub_files_open(hub_files *fs, const store_content *ct, int *fd);
/* A finished, verified download of ct in fd becomes its plain copy (linked, not copied, when
 * fd came from store_files_tmpfile), then the budget is enforced.  Runs on the caller's thread:
 * the download's own thread. */
void hub_files_adopt(hub_files *fs, const store_content *ct, int fd);
/* Copies kept, bytes they take, copies made since start: for /metrics. */
void hub_files_stats(hub_files *fs, uint64_t *bytes, unsigned long *made, unsigned long *served);

#endif
