/*
 * export.h - symbol visibility for libparley. The library is built with
 * hidden visibility; only functions marked PARLEY_API are exported.
 */
#ifndef PARLEY_EXPORT_H
#define PARLEY_EXPORT_H

#if defined(PARLEY_BUILDING) && defined(__GNUC__)
#define PARLEY_API __attribute__((visibility("default")))
#else
#define PARLEY_API
#endif

#endif
