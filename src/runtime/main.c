/*
 * main.c - mags-runtime: build one sandbox, run one script in it, report
 * to magsd on fd 3. See docs/ARCHITECTURE.md ("magsd -> mags-runtime
 * interface") and sandbox.c for the steps.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/args.h"
#include "runtime/control.h"
#include "runtime/netfw.h"
#include "runtime/sandbox.h"
#include "runtime/status.h"
#include "common/banned.h"

int main(int argc, char **argv)
{
	struct runtime_config cfg;
	struct mags_err err = { 0 };
	int r;

	if (argc >= 2 && (!strcmp(argv[1], "exec") || !strcmp(argv[1], "status") ||
			  !strcmp(argv[1], "stop") || !strcmp(argv[1], "sftp")))
		return control_client_main(argc, argv);
	if (argc >= 2 && (!strcmp(argv[1], "net-setup") || !strcmp(argv[1], "net-teardown")))
		return netfw_main(argc, argv);
	status_open();
	r = args_parse(argc, argv, &cfg, &err);
	if (r == 1) {
		fputs(args_usage, stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "mags-runtime: %s\n%s", err.msg, args_usage);
		if (status_fd() != STDERR_FILENO)
			status_send("error args: %s", err.msg);
		return 1;
	}
	if (geteuid() != 0) {
		status_send("error runtime: must run as root (uid 0)");
		return 1;
	}
	/* argv and environ strings are one block the kernel laid out. */
	cfg.title = argv[0];
	char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	cfg.argv_len = (size_t)(end - argv[0]);
	for (char **e = environ; *e; e++)
		if (*e > end && *e < end + 1024 * 1024)
			end = *e + strlen(*e) + 1;
	cfg.title_len = (size_t)(end - argv[0]);
	return sandbox_run(&cfg);
}
