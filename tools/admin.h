/*
 * admin.h - parley-admin's store administration commands: users (list,
 * show, disable, enable, delete), groups (list, show, delete) and
 * registration invites (create, list, revoke). Each works on any store
 * backend through store.h only (docs/operations.md "Administration").
 *
 * Every command takes its own arguments (argv[0] is the command word) and
 * returns the process exit status: 0 done, 1 refused or failed (a message
 * on stderr: no such user, store error, ...), 2 bad usage.
 */
#ifndef PARLEY_TOOLS_ADMIN_H
#define PARLEY_TOOLS_ADMIN_H

int admin_users(int argc, char **argv);
int admin_groups(int argc, char **argv);
int admin_invite(int argc, char **argv);
/* The usage lines of the three commands, and of their options, for
 * parley-admin help. */
extern const char admin_usage[];
extern const char admin_usage_options[];

#endif
