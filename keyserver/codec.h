/*
 * codec.h - JSON field helpers for the keyserver: fixed-length base64
 * values (standard alphabet, padded) and unsigned 32-bit key ids.
 */
#ifndef PARLEY_KS_CODEC_H
#define PARLEY_KS_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the string member `name` of obj into exactly len bytes of out.
 * Returns false (out untouched or partially written) if the member is
 * missing, not a string, not valid padded standard base64, or decodes to
 * another length. */
bool codec_get_b64(const json_t *obj, const char *name, uint8_t *out, size_t len);

/* The device routes (/v2/devices, /v2/link; docs/protocol.md "Devices"):
 * binary values are written in unpadded base64url and read in unpadded
 * base64url or padded standard base64. Decode the string member `name` of
 * obj into out (cap bytes); the decoded length, or -1 if the member is
 * missing, not a string, in neither spelling, or longer than cap. */
long codec_get_b64_any(const json_t *obj, const char *name, uint8_t *out, size_t cap);
/* A new JSON string holding the unpadded base64url of buf (NULL on
 * out-of-memory). */
json_t *codec_b64url_json(const uint8_t *buf, size_t len);

/* Read the integer member `name` of obj as a uint32 (0..4294967295).
 * Returns false if missing, not an integer or out of range. */
bool codec_get_u32(const json_t *obj, const char *name, uint32_t *out);

/* A new JSON string holding the padded standard base64 of buf (NULL on
 * out-of-memory). */
json_t *codec_b64_json(const uint8_t *buf, size_t len);

#endif
