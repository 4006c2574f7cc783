/*
 * log.h - the daemon's event log: one line per event on stderr, prefixed
 * "magsd: " (a supervisor such as systemd adds the timestamps). Only the
 * edges of magsd log (serve loop, API, supervisor events); library-style
 * modules return errors instead.
 */
#ifndef MAGS_MAGSD_LOG_H
#define MAGS_MAGSD_LOG_H

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 0 silences log_info (unit tests); warnings always print. */
void log_set_verbose(int on);

#endif
