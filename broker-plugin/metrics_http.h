/*
 * metrics_http.h - the broker's Prometheus endpoint (plugin_opt_metrics_listen):
 * a small HTTP server on its own thread (libmicrohttpd) that serves the last
 * snapshot metrics.c rendered. The broker thread only swaps a pointer under
 * a mutex; the server thread copies the text under the same mutex, so the
 * broker thread never waits for a scraper, a socket or a slow client.
 *
 *   GET /metrics  the snapshot (text/plain; version=0.0.4)
 *   GET /healthz  200 "ok" while snapshots keep coming (the broker loop
 *                 runs), 503 "stale" once none came for 3 metrics
 *                 intervals + 5 s (a hung broker thread), 503 before the first
 */
#ifndef PARLEY_METRICS_HTTP_H
#define PARLEY_METRICS_HTTP_H

#include <stdbool.h>

/* Start listening on spec ("HOST:PORT", "[V6]:PORT"; see http/listen.h);
 * interval_s is the metrics interval (for /healthz). 0, or -1 logged. */
int metrics_http__start(const char *spec, int interval_s);
/* Whether the endpoint runs (metrics.c renders Prometheus text only then). */
bool metrics_http__enabled(void);
/* Broker thread: replace the snapshot (takes text, malloc'd); NULL keeps
 * the old one. Also the new metrics interval after a reload. */
void metrics_http__set(char *text);
void metrics_http__set_interval(int interval_s);
void metrics_http__stop(void);

#endif
