/*
 * slices.c - the least HTTP server that sends one file with sendfile in slices of a given size,
 * waiting in epoll between slices as an event loop does.  It exists to answer one question of
 * the serving benchmark: how much of the gap between hubgate (libmicrohttpd, 128 KiB slices with
 * an epoll_wait between them) and nginx (2 MiB slices) is the slice size alone.
 *
 * usage: slices PORT FILE SLICE_BYTES
 * Serves FILE with 200 and Content-Length to every request on 127.0.0.1:PORT, one connection at
 * a time, keep-alive.  The socket is corked while the body goes out, as nginx's tcp_nopush does.
 * Not a server for anything else: no request parsing beyond the end of the head.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int set_cork(int fd, int on)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

/* Waits until fd is ready for what it asked (edge-triggered: after EAGAIN) or, with timeout 0,
 * just passes through the event loop as libmicrohttpd does after every full slice. */
static void wait_ready(int ep, int timeout_ms)
{
    struct epoll_event ev;
    (void)epoll_wait(ep, &ev, 1, timeout_ms);
}

/* Returns 0 when the request head is in, -1 when the client closed or failed. */
static int read_head(int fd, int ep)
{
    char buf[16384];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno != EAGAIN)
                return -1;
            wait_ready(ep, -1);
            continue;
        }
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
        if (have == sizeof buf - 1)
            return -1;
    }
}

static int send_body(int fd, int ep, int file, off_t size, size_t slice)
{
    char head[128];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n\r\n", (long long)size);
    if (set_cork(fd, 1) != 0 || send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl)
        return -1;
    off_t off = 0;
    while (off < size) {
        size_t want = (size_t)(size - off) < slice ? (size_t)(size - off) : slice;
        ssize_t n = sendfile(fd, file, &off, want);
        if (n < 0 && errno != EAGAIN)
            return -1;
        wait_ready(ep, n == (ssize_t)want ? 0 : -1);
    }
    return set_cork(fd, 0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: slices PORT FILE SLICE_BYTES\n");
        return 2;
    }
    size_t slice = strtoul(argv[3], NULL, 0);
    int file = open(argv[2], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (slice == 0 || file < 0 || fstat(file, &st) != 0) {
        fprintf(stderr, "slices: %s: %s\n", argv[2], slice ? strerror(errno) : "bad slice size");
        return 1;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 64) != 0) {
        perror("slices: listen");
        return 1;
    }
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd};
        if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
            while (read_head(fd, ep) == 0 && send_body(fd, ep, file, st.st_size, slice) == 0)
                ;
        if (ep >= 0)
            close(ep);
        close(fd);
    }
}
