// udp-echo for the demo guest: answers every UDP datagram sent to PORT with
// "echo from the guest: " and the datagram, to its sender. busybox's nc (Debian's
// busybox-static) speaks TCP only, and the functional tests need a UDP service inside
// the guest to prove that `virtctl port-forward udp/...` and masquerade's UDP ports
// reach it. One datagram in, one out: nothing is buffered or joined.
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: udp-echo PORT\n");
		return 1;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("udp-echo: socket");
		return 1;
	}
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr = {htonl(INADDR_ANY)}};
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("udp-echo: bind");
		return 1;
	}
	static const char prefix[] = "echo from the guest: ";
	char buf[65536];
	for (;;) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof from;
		memcpy(buf, prefix, sizeof prefix - 1);
		ssize_t n = recvfrom(s, buf + sizeof prefix - 1, sizeof buf - (sizeof prefix - 1), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			perror("udp-echo: recvfrom");
			continue;
		}
		if (sendto(s, buf, n + sizeof prefix - 1, 0, (struct sockaddr *)&from, fromlen) < 0)
			perror("udp-echo: sendto");
	}
}
