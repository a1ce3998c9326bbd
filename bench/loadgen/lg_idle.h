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
 *
 * More than one loopback source address (`source_addrs` > 0: client k
 * binds 127.0.0.{2 + k % source_addrs} before connecting, with
 * IP_BIND_ADDRESS_NO_PORT) lifts the limit of one ephemeral port range
 * (ip_local_port_range, ~28,000 ports) per source address towards one
 * broker address: 100,000 connections need at least 4.
 *
 * `credentials` makes a bare run send what a Parley run sends in CONNECT
 * (the user id and a password as long as a token), so that the broker's own
 * per-connection memory is compared on equal CONNECTs. `reconnect` adds a
 * second phase after the memory reading: every client disconnects and
 * connects again with the same CONNECT (the same token: a reconnect storm),
 * timed like the first.
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
    int source_addrs;       /* 0: the kernel's choice (127.0.0.1) */
    bool credentials;       /* bare: send a user id and a token-sized password */
    bool reconnect;         /* then disconnect everything and connect again */
} lg_idle_opts;

/* Run and print one JSON object on out. 0 if every client connected. */
int lg_idle_run(const lg_idle_opts *o, FILE *out);

#endif
