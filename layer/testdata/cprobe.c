/* cprobe: the glibc counterpart of goprobe, for the layer's tests. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	if (!strcmp(argv[1], "hostname")) {
		char h[256];
		if (gethostname(h, sizeof h)) { perror("gethostname"); return 1; }
		printf("%s\n", h);
	} else if (!strcmp(argv[1], "resolve")) {
		struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
		int rc = getaddrinfo(argv[2], NULL, &hints, &res);
		if (rc) { printf("ERR %s\n", gai_strerror(rc)); return 1; }
		char ip[64];
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
		printf("%s\n", ip);
	} else if (!strcmp(argv[1], "read")) {
		FILE *f = fopen(argv[2], "r");
		if (!f) { perror("fopen"); return 1; }
		char buf[4096];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
		fclose(f);
	} else if (!strcmp(argv[1], "get")) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); return 1; }
		struct sockaddr_in peer;
		socklen_t len = sizeof peer;
		getpeername(fd, (struct sockaddr *)&peer, &len);
		char ip[64];
		inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
		const char *req = "GET / HTTP/1.0\r\n\r\n";
		write(fd, req, strlen(req));
		char buf[4096];
		int n, total = 0;
		while ((n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
		buf[total] = 0;
		char *body = strstr(buf, "\r\n\r\n");
		printf("peer=%s:%d body=%s\n", ip, ntohs(peer.sin_port), body ? body + 4 : "");
	} else {
		return 2;
	}
	return 0;
}
