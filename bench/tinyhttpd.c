/*
 * bench/tinyhttpd.c - the backend of bench/proxy_bench.sh: a single-process
 * epoll HTTP/1.1 server with keep-alive that answers every request with
 * 200 and a 512-byte body. busybox httpd forks a process per connection
 * and closes it after one request, so timing the proxy against it would
 * mostly time fork(); this one costs the same per request whether it is
 * hit directly or through magsd's proxy. Built static by the bench and
 * uploaded into the sandbox.
 *
 *   tinyhttpd PORT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 4096

static char reply[1024];
static size_t reply_len;
static char bufs[MAXC][4096];
static size_t have[MAXC];

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8080, one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	char body[513];

	memset(body, 'x', 512);
	body[512] = '\0';
	reply_len = (size_t)snprintf(reply, sizeof(reply),
				     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				     "Content-Length: 512\r\n\r\n%s", body);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1024) < 0) {
		perror("tinyhttpd: listen");
		return 1;
	}
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (c >= MAXC) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					have[c] = 0;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, bufs[fd] + have[fd], sizeof(bufs[fd]) - 1 - have[fd]);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			have[fd] += (size_t)r;
			bufs[fd][have[fd]] = '\0';
			/* every complete request head gets the reply (no bodies) */
			char *p = bufs[fd], *end;
			while ((end = strstr(p, "\r\n\r\n"))) {
				if (write(fd, reply, reply_len) < 0)
					break;
				p = end + 4;
			}
			have[fd] -= (size_t)(p - bufs[fd]);
			memmove(bufs[fd], p, have[fd]);
			if (have[fd] >= sizeof(bufs[fd]) - 1) {
				close(fd);
				have[fd] = 0;
			}
		}
	}
}
