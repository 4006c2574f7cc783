/*
 * ssh_signal_client.c - a test helper for test_ssh_live.py: OpenSSH's
 * client cannot send an SSH "signal" channel request, so this small
 * libssh client does. Usage: ssh_signal_client KEY PORT COMMAND SIGNAL.
 * It runs COMMAND, and once the output holds "ready" sends SIGNAL (a name
 * without SIG); it prints the output, then "exit=N" with the exit status.
 */
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	ssh_session s = ssh_new();
	ssh_channel ch;
	ssh_key key;
	char buf[4096], seen[8192] = "";
	size_t seen_len = 0;
	int port, sent = 0, n;

	if (argc != 5 || !s)
		return 2;
	port = atoi(argv[2]);
	ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
	ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(s, SSH_OPTIONS_USER, "root");
	if (ssh_connect(s) != SSH_OK ||
	    ssh_pki_import_privkey_file(argv[1], NULL, NULL, NULL, &key) != SSH_OK ||
	    ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
		fprintf(stderr, "login: %s\n", ssh_get_error(s));
		return 3;
	}
	ch = ssh_channel_new(s);
	if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, argv[3]) != SSH_OK) {
		fprintf(stderr, "exec: %s\n", ssh_get_error(s));
		return 4;
	}
	while ((n = ssh_channel_read_timeout(ch, buf, sizeof(buf) - 1, 0, 20000)) > 0) {
		buf[n] = '\0';
		fputs(buf, stdout);
		if (seen_len + (size_t)n < sizeof(seen)) {
			memcpy(seen + seen_len, buf, (size_t)n + 1);
			seen_len += (size_t)n;
		}
		if (!sent && strstr(seen, "ready")) {
			ssh_channel_request_send_signal(ch, argv[4]);
			sent = 1;
		}
	}
	while (!ssh_channel_is_closed(ch) && ssh_channel_get_exit_status(ch) == -1 &&
	       ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 1000) >= 0)
		;
	printf("exit=%d\n", ssh_channel_get_exit_status(ch));
	return 0;
}
