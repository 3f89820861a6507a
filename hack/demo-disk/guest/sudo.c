// sudo for the demo guest's cirros login. KubeVirt's cirros image tells its user "use
// 'sudo' for root" and lets the cirros user run anything as root without a password; so
// does this, and nothing more: it runs the command (or, with -i or -s, a login shell) as
// root. The guest's init makes it setuid root and executable by the cirros group only,
// and only in the cirros flavor (the others log in as root already).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: sudo -i | -s | COMMAND [ARG...]\n");
		return 1;
	}
	if (setgid(0) != 0 || setuid(0) != 0) {
		perror("sudo: becoming root (is /bin/sudo setuid root?)");
		return 1;
	}
	if (strcmp(argv[1], "-i") == 0 || strcmp(argv[1], "-s") == 0) {
		char *shell[] = {"-sh", NULL};
		execv("/bin/sh", shell);
		perror("sudo: /bin/sh");
		return 127;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "sudo: %s: ", argv[1]);
	perror(NULL);
	return 127;
}
