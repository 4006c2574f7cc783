/*
 * sftpsrv.h - the sandbox's SFTP server: a child of init that owns one
 * control-socket connection after an {"op": "sftp"} request and speaks
 * SFTP version 3 (draft-ietf-secsh-filexfer-02, as OpenSSH's sftp-server
 * does) on it, enough for OpenSSH's sftp and scp clients.
 *
 * It runs with the posture of an exec (init's namespaces, cgroup,
 * capabilities, no_new_privs and seccomp filter; uid 0 of the sandbox;
 * cwd /root), so every path it is given resolves inside the sandbox's
 * own root: nothing it serves can be outside. Packets are decoded by the
 * pure functions of common/sftpproto.h; a malformed one ends the session.
 */
#ifndef MAGS_RUNTIME_SFTPSRV_H
#define MAGS_RUNTIME_SFTPSRV_H

/* In the child forked by init for connection fd: close every other fd,
 * send the 'S' {"sftp": true} frame, then serve raw SFTP until the
 * client closes or breaks the protocol. Never returns (_exit). */
__attribute__((noreturn))
void sftpsrv_child(int fd);

/* Serve SFTP on in_fd/out_fd until EOF or a protocol error (blocking).
 * Returns 0 at a clean EOF, a negative errno otherwise. */
int sftpsrv_serve(int in_fd, int out_fd);

#endif
