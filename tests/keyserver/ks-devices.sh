#!/usr/bin/env bash
# Linked devices on the keyserver (docs/protocol.md "Devices"): the implicit
# list of a user without one; link codes (signed request, wrong signature,
# unknown user, only the same user reads a code, refusal, the per-user cap);
# a forged list (not signed by the account key) refused; the first list moves
# the implicit device's prekeys to the primary and consumes the link code;
# stale version 409; too many devices 409; only the primary changes the list;
# prekeys per device (signed by the device key, bundles per device); tokens
# per device: another device's key for a client id, an unknown device, and a
# removed device's tokens are refused by the keyserver AND the media gateway
# (401 unknown_device), and its prekeys are gone.
. "$PARLEY_SOURCE_DIR/tests/lib/harness.sh"
. "$PARLEY_SOURCE_DIR/tests/keyserver/ks_lib.sh"
command -v devtool >/dev/null || h_fail "devtool not built ($PARLEY_BUILD_DIR/tests/devtool)"
command -v sqlite3 >/dev/null || h_fail "sqlite3 is required"

h_start_keyserver --rate-limit 0 --otpk-pair-limit 0 --otpk-target-limit 0 --max-devices 3
h_start_media
ks_user alice
ks_user bob
A="$(ks_keydir alice)"
for d in lap tab extra; do kstool keygen "$H_TMP/keys-$d" || h_fail "keygen $d"; done
LAP="$H_TMP/keys-lap" TAB="$H_TMP/keys-tab" EXTRA="$H_TMP/keys-extra"
tb="$(ks_token bob)"
# devtok DIR CLIENT_ID [AUDIENCE] - a token of alice signed by DIR's key for CLIENT_ID
devtok() { devtool token "$1" alice "$2" "${3:-keyserver}"; }
db() { sqlite3 "$H_TMP/parley.db" "$1"; }
media_get() { # media_get TOKEN -> the status of GET /v1/media/{unknown id}
  curl -sS -o "$H_TMP/media.out" -w '%{http_code}' -H "Authorization: Bearer $1" \
    "$H_MEDIA_URL/v1/media/AAAAAAAAAAAAAAAAAAAAAA"
}
b64pk() { # the unpadded base64url of DIR's public key
  base64 -w0 <"$1/pk" | tr '+/' '-_' | tr -d '='
}

# --- the implicit list: the account key stands for any client id tag
ks_req GET /v2/devices/alice "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json '.version')" 0 "implicit version"
h_assert_eq "$(ks_json '.devices | length')" 1 "implicit devices"
h_assert_eq "$(ks_json '.devices[0].device_id')" "" "implicit device id"
h_assert_eq "$(ks_json '.devices[0].primary')" true "implicit device is the primary"
h_assert_eq "$(ks_json '.devices[0].device_key')" "$(b64pk "$A")" "implicit key"
h_assert_eq "$(ks_json 'has("list")')" false "no list text while implicit"
ks_req PUT /v2/keys "$(ks_body pk0 kstool prekeys-body "$A" 3)" "$(devtok "$A" alice.p1)"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 3 "implicit device's prekeys"
ks_req GET /v2/keys "" "$(devtok "$A" alice.any-other-tag)"
ks_expect 200
h_assert_eq "$(ks_json .count)" 3 "any tag while implicit"
ks_req GET /v2/devices/nobody "" "$tb"
ks_expect 404 unknown_user

# --- link codes
ks_req POST /v2/link "$(ks_body l-bad devtool link-body alice lap "$LAP" laptop --bad-sig)"
ks_expect 422 invalid_signature
ks_req POST /v2/link "$(ks_body l-nobody devtool link-body nobody lap "$LAP" laptop)"
ks_expect 404 unknown_user
ks_req POST /v2/link "$(ks_body l-id devtool link-body alice 'la.p' "$LAP" laptop)"
ks_expect 400 invalid_device_id
ks_req POST /v2/link "$(ks_body l-acct devtool link-body alice p2 "$A" again)"
ks_expect 409 device_exists                 # the account key is the primary's
ks_req POST /v2/link "$(ks_body l-lap devtool link-body alice lap "$LAP" 'my laptop')"
ks_expect 201
code="$(ks_json .code)"
[[ "$code" =~ ^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$ ]] || h_fail "code form: $code"
[ "$(ks_json .expires_at)" -gt "$(( $(date +%s) * 1000 ))" ] || h_fail "expires_at: $KS_BODY"
ks_req GET "/v2/link/$code" "" "$(devtok "$A" alice.p1)"
ks_expect 200
h_assert_eq "$(ks_json .device_id)" lap "link device id"
h_assert_eq "$(ks_json .name)" "my laptop" "link name"
h_assert_eq "$(ks_json .device_key)" "$(b64pk "$LAP")" "link device key"
ks_req GET "/v2/link/$(tr 'A-Z' 'a-z' <<<"${code/-/}")" "" "$(devtok "$A" alice.p1)"
ks_expect 200                               # typed in lower case, without the hyphen
ks_req GET "/v2/link/$code" "" "$tb"
ks_expect 404 unknown_code                  # another user's code does not exist for bob
ks_req GET /v2/link/ZZZZ-ZZZZ "" "$(devtok "$A" alice.p1)"
ks_expect 404 unknown_code
ks_req GET "/v2/link/$code" ""
ks_expect 401                               # reading a code needs a token

# --- a forged list: signed by the new device's key, not the account key
ks_req PUT /v2/devices "$(ks_body forged devtool list alice 1 "$A" --sign-with "$LAP" \
  p1="$A"=phone lap="$LAP"=laptop)" "$(devtok "$A" alice.p1)"
ks_expect 422 invalid_signature
ks_req PUT /v2/devices "$(ks_body bobs devtool list bob 1 "$A" p1="$A")" "$(devtok "$A" alice.p1)"
ks_expect 403 wrong_user
ks_req PUT /v2/devices "$(ks_body noprim devtool list alice 1 "$A" lap="$LAP")" \
  "$(devtok "$A" alice.p1)"
ks_expect 422 no_primary
ks_req PUT /v2/devices '' "$(devtok "$A" alice.p1)"
ks_expect 400
ks_req GET /v2/devices/alice "" "$tb"
h_assert_eq "$(ks_json '.version')" 0 "nothing stored by the refused lists"

# --- the first list: the primary p1 and the laptop
ks_req PUT /v2/devices "$(ks_body v1 devtool list alice 1 "$A" p1="$A"=phone lap="$LAP"=laptop)" \
  "$(devtok "$A" alice.p1)"
ks_expect 200
h_assert_eq "$(ks_json '.version')" 1 "stored version"
h_assert_eq "$(ks_json '[.devices[].device_id] | join(",")')" "p1,lap" "stored devices"
h_assert_eq "$(ks_json '[.devices[].primary] | join(",")')" "true,false" "primary flags"
list_b64="$(jq -r .list "$H_TMP/v1.json")"
h_assert_eq "$(ks_json .list)" "$list_b64" "the list text comes back verbatim"
ks_req GET "/v2/link/$code" "" "$(devtok "$A" alice.p1)"
ks_expect 404 unknown_code                  # consumed by the approval
# the implicit device's prekeys are the primary's now
h_assert_eq "$(db "SELECT count(*) FROM one_time_prekeys WHERE user_id='alice' AND device_id='p1'")" 3 \
  "prekeys moved to the primary"
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json .device_id)" p1 "bundle of the primary by default"
ks_req GET /v2/keys/alice/p1 "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekey.key_id)" 2 "second one-time prekey of p1"

# --- the same version again, a lower one, too many devices, a non-primary writer
ks_req PUT /v2/devices "$H_TMP/v1.json" "$(devtok "$A" alice.p1)"
ks_expect 409 stale_version
ks_req PUT /v2/devices "$(ks_body many devtool list alice 2 "$A" p1="$A" lap="$LAP" tab="$TAB" \
  extra="$EXTRA")" "$(devtok "$A" alice.p1)"
ks_expect 409 too_many_devices
ks_req PUT /v2/devices "$(ks_body v2l devtool list alice 2 "$A" p1="$A" lap="$LAP" tab="$TAB")" \
  "$(devtok "$LAP" alice.lap)"
ks_expect 403 not_primary

# --- tokens per device: the old "any tag" is over
ks_req GET /v2/keys "" "$(devtok "$A" alice.any-other-tag)"
ks_expect 401 unknown_device
ks_req GET /v2/keys "" "$(devtok "$TAB" alice.tab)"
ks_expect 401 unknown_device                # never added
ks_req GET /v2/keys "" "$(devtok "$A" alice.lap)"
ks_expect 401 unauthorized                  # the laptop's client id with the account key
ks_req GET /v2/keys "" "$(devtok "$LAP" alice.p1)"
ks_expect 401 unauthorized                  # the primary's client id with the laptop's key
tlap="$(devtok "$LAP" alice.lap)"
ks_req GET /v2/keys "" "$(devtok "$LAP" alice.lap-cli42)"
ks_expect 200                               # a transient connection of the laptop
h_assert_eq "$(ks_json .count)" 0 "the laptop has no prekeys yet"

# prekeys of the laptop: signed by its own key, served as its bundle
ks_req PUT /v2/keys "$(ks_body pk-acct kstool prekeys-body "$A" 2 --start-id 50)" "$tlap"
ks_expect 422 invalid_signature             # the account key does not sign for the laptop
ks_req PUT /v2/keys "$(ks_body pk-lap kstool prekeys-body "$LAP" 2 --start-id 1)" "$tlap"
ks_expect 200
h_assert_eq "$(ks_json .one_time_prekeys)" 2 "laptop's count"
ks_req GET /v2/keys/alice/lap "" "$tb"
ks_expect 200
h_assert_eq "$(ks_json .device_id)" lap "laptop bundle"
id_key="$(ks_json .identity_key)"
h_assert_eq "$id_key" "$(base64 -w0 <"$LAP/pk")" "the bundle's identity key is the device key"
ks_req GET /v2/keys/alice/tab "" "$tb"
ks_expect 404 unknown_device
ks_req GET /v2/keys "" "$(devtok "$A" alice.p1)"
h_assert_eq "$(ks_json .count)" 1 "the primary's count is its own"

# media gateway: the laptop's media token works
h_assert_eq "$(media_get "$(devtok "$LAP" alice.lap media)")" 404 "laptop at the media gateway"
h_assert_eq "$(media_get "$(devtok "$TAB" alice.tab media)")" 401 "unknown device at the media gateway"
h_assert_contains "$(cat "$H_TMP/media.out")" unknown_device "media error code"

# --- link the tablet through a code, refuse one, the cap on waiting codes
ks_req POST /v2/link "$(ks_body l-tab devtool link-body alice tab "$TAB" tablet)"
ks_expect 201
tabcode="$(ks_json .code)"
ks_req DELETE "/v2/link/$tabcode" "" "$tb"
ks_expect 404 unknown_code                  # bob cannot refuse alice's code
ks_req DELETE "/v2/link/$tabcode" "" "$(devtok "$A" alice.p1)"
ks_expect 200
ks_req GET "/v2/link/$tabcode" "" "$(devtok "$A" alice.p1)"
ks_expect 404 unknown_code
for i in 1 2 3; do
  ks_req POST /v2/link "$(ks_body "l-x$i" devtool link-body alice "x$i" "$EXTRA" "x$i")"
  ks_expect 201
done
ks_req POST /v2/link "$(ks_body l-x4 devtool link-body alice x4 "$EXTRA" x4)"
ks_expect 429 too_many_links

# --- remove the laptop: its tokens are refused at once on both services,
# its prekeys are gone, its bundle is unknown
ks_req PUT /v2/devices "$(ks_body v2 devtool list alice 2 "$A" p1="$A"=phone)" \
  "$(devtok "$A" alice.p1)"
ks_expect 200
h_assert_eq "$(ks_json '.devices | length')" 1 "one device left"
ks_req GET /v2/keys "" "$tlap"
ks_expect 401 unknown_device
h_assert_eq "$(media_get "$(devtok "$LAP" alice.lap media)")" 401 "removed device at the media gateway"
h_assert_contains "$(cat "$H_TMP/media.out")" unknown_device "media error code after removal"
ks_req GET /v2/keys/alice/lap "" "$tb"
ks_expect 404 unknown_device
h_assert_eq "$(db "SELECT count(*) FROM one_time_prekeys WHERE user_id='alice' AND device_id='lap'")" 0 \
  "the removed device's one-time prekeys"
h_assert_eq "$(db "SELECT count(*) FROM signed_prekeys WHERE user_id='alice' AND device_id='lap'")" 0 \
  "the removed device's signed prekeys"
ks_req GET /v2/keys "" "$(devtok "$A" alice.p1)"
ks_expect 200                               # the primary is unaffected
ks_req GET /v2/keys/alice "" "$tb"
ks_expect 200

# metrics
ks_req GET /metrics
h_assert_contains "$KS_BODY" "parley_keyserver_device_lists_stored_total 2" "lists metric"
h_assert_contains "$KS_BODY" 'parley_keyserver_auth_failures_total{reason="unknown_device"}' \
  "unknown_device auth failures"
h_pass
