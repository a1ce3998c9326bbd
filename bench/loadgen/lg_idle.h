/*
 * lg_idle.h - the idle-connection run: open `clients` MQTT 3.1.1
 * connections (user ids {prefix}{base} .. {prefix}{base+clients-1}, client
 * id "{user}.idle", a token as password in Parley mode), measure how fast
 * the broker accepts them (CONNECT to CONNACK; with the Parley plugin every
 * CONNACK is a verified token), hold them idle and read the broker's memory
 * from /proc/{broker_pid}/status.
 *
 * Connections are raw sockets speaking just CONNECT/CONNACK (one descriptor
 * per client; libmosquitto spends three), spread over `threads` epoll
 * threads with at most `window` connects in flight per thread.
 */
#ifndef PARLEY_LG_IDLE_H
#define PARLEY_LG_IDLE_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *host;
    int port;
    bool parley;
    const char *prefix;
    unsigned user_base;
    int clients;
    int threads;
    int window;
    double hold_s;          /* idle time before the memory reading */
    int broker_pid;         /* 0: no memory reading */
    const char *label;
} lg_idle_opts;

/* Run and print one JSON object on out. 0 if every client connected. */
int lg_idle_run(const lg_idle_opts *o, FILE *out);

#endif
