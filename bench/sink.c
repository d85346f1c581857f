/*
 * sink.c - a load client for the serving benchmarks: N keep-alive connections, each sending GET
 * requests from a list and discarding the bodies in the kernel (recv MSG_TRUNC), so that the
 * server, not the client, is what is measured (as in shared/docs/http-stack.md).
 *
 * usage: sink HOST PORT CONNECTIONS REQUESTS_FILE
 * REQUESTS_FILE: one request per line, "PATH" or "PATH<TAB>RANGE_VALUE".  Each connection walks
 * the list from a different starting line until every line was requested once per connection.
 * Prints: "<bytes> <seconds> <GB/s>"; exits 1 on any non-2xx status or short body.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct job {
    const char *host;
    int port;
    char **lines;
    size_t nlines, first;
    unsigned long long bytes;
    int failed;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Reads the response head; returns the Content-Length (or -1) and the status. */
static long long read_head(int fd, int *status, char *extra, size_t *extra_len)
{
    char buf[16384];
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            *status = atoi(buf + 9);
            long long cl = -1;
            for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
                if (!strncasecmp(p, "Content-Length:", 15))
                    cl = atoll(p + 15);
            size_t head = (size_t)(end + 4 - buf);
            *extra_len = n - head;
            memcpy(extra, end + 4, *extra_len);
            return cl;
        }
        if (n == sizeof buf - 1)
            return -1;
    }
}

static void *run(void *arg)
{
    job *j = arg;
    int fd = connect_to(j->host, j->port);
    if (fd < 0) {
        j->failed = 1;
        return NULL;
    }
    char req[8192], extra[16384];
    for (size_t k = 0; k < j->nlines; k++) {
        char *line = j->lines[(j->first + k) % j->nlines];
        char *tab = strchr(line, '\t');
        int n = tab ? snprintf(req, sizeof req, "GET %.*s HTTP/1.1\r\nHost: %s\r\nRange: %s\r\n\r\n", (int)(tab - line),
                               line, j->host, tab + 1)
                    : snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", line, j->host);
        if (send(fd, req, (size_t)n, 0) != n) {
            j->failed = 1;
            break;
        }
        int status = 0;
        size_t el = 0;
        long long cl = read_head(fd, &status, extra, &el);
        if (cl < 0 || status < 200 || status > 299) {
            fprintf(stderr, "sink: %s -> status %d\n", line, status);
            j->failed = 1;
            break;
        }
        long long left = cl - (long long)el;
        while (left > 0) {
            ssize_t r = recv(fd, NULL, left > (1 << 30) ? (1 << 30) : (size_t)left, MSG_TRUNC);
            if (r <= 0) {
                j->failed = 1;
                break;
            }
            left -= r;
        }
        j->bytes += (unsigned long long)cl;
        if (j->failed)
            break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sink HOST PORT CONNECTIONS REQUESTS_FILE\n");
        return 2;
    }
    int conns = atoi(argv[3]);
    FILE *f = fopen(argv[4], "r");
    if (!f || conns <= 0 || conns > 1024) {
        fprintf(stderr, "sink: bad arguments\n");
        return 2;
    }
    char **lines = NULL;
    size_t nl = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (!*buf)
            continue;
        lines = realloc(lines, (nl + 1) * sizeof *lines);
        lines[nl++] = strdup(buf);
    }
    fclose(f);
    if (!nl)
        return 2;
    job *jobs = calloc((size_t)conns, sizeof *jobs);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now();
    for (int i = 0; i < conns; i++) {
        jobs[i] = (job){argv[1], atoi(argv[2]), lines, nl, (size_t)i % nl, 0, 0};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    unsigned long long total = 0;
    int failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].bytes;
        failed |= jobs[i].failed;
    }
    double dt = now() - t0;
    printf("%llu %.3f %.3f\n", total, dt, (double)total / dt / 1e9);
    return failed;
}
