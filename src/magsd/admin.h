/*
 * admin.h - the administrator's subcommands: users, tokens, images. They
 * open the database directly (WAL lets them run beside a live daemon) and
 * talk to people: results on stdout, "magsd: <message>" on stderr.
 */
#ifndef MAGS_MAGSD_ADMIN_H
#define MAGS_MAGSD_ADMIN_H

/* argv: the arguments after the command name; 0 on success, else an exit
 * status. */
int cmd_user(int argc, char **argv, const char *data_dir);
int cmd_token(int argc, char **argv, const char *data_dir);
int cmd_image(int argc, char **argv, const char *data_dir);

/* 1 if name is a valid user name: 1-64 of [A-Za-z0-9._@-]. */
int admin_user_name_valid(const char *name);

#endif
