#!/usr/bin/env bash
# What the plugin forwards carries nothing of the sender's but the envelope
# (docs/security.md, "Holes found from outside"): no MQTT 5 properties
# (user properties, response topic, correlation data, content type, payload
# format indicator) on 1:1 messages, typing events or group messages, and no
# sender_client_id in any envelope delivered to another user. Before the
# fix, all of these reached the recipient as the sender set them.
. "$PARLEY_SOURCE_DIR/tests/plugin/lib.sh"

command -v gtool >/dev/null || h_fail "gtool not built"
p_user alice bob
h_start_mosquitto

# A group of alice and bob.
gtool create c-fw fw bob >"$H_TMP/create.req" || h_fail "gtool create"
p_sub create alice alice.c1 1 parley/u/alice/rsp
p_pub alice alice.c2 parley/u/alice/ctl "$H_TMP/create.req" || h_fail "create request"
p_wait_sub create
G="$(gtool decode response <"$H_TMP/create.out" | p_json_field chat_id | head -n 1)"
[[ "$G" =~ ^g:[A-Za-z0-9_-]{22}$ ]] || h_fail "group not created: $(cat "$H_TMP/create.out")"
GIN="parley/g/${G#g:}/inbox"

# bob listens with MQTT 5 and prints every property mosquitto_sub knows of
# (empty when absent), then the payload in hex.
P_SUB_OPTS="-V mqttv5 -F %t|P=%P|R=%R|C=%C|D=%D|F=%F|%x" \
  p_sub bob bob bob.s1 3 parley/u/bob/inbox parley/u/bob/typing "$GIN"

props=(-V mqttv5 -D publish user-property secret-key secret-value
  -D publish response-topic parley/u/alice/inbox -D publish correlation-data corr-123
  -D publish content-type text/x-alice -D publish payload-format-indicator 1)
p_env "$H_TMP/m1" fw-1 --body direct
p_pub alice alice.p1 parley/u/bob/inbox "$H_TMP/m1" "${props[@]}" || h_fail "direct publish"
ptool typing --on >"$H_TMP/typ"
p_pub alice alice.p1 parley/u/bob/typing "$H_TMP/typ" "${props[@]}" || h_fail "typing publish"
p_env "$H_TMP/m2" fw-2 --body group
p_pub alice alice.p1 "$GIN" "$H_TMP/m2" "${props[@]}" || h_fail "group publish"
p_wait_sub bob

h_log "bob received: $(cut -d'|' -f1-6 "$H_TMP/bob.out" | tr '\n' ' ')"
while IFS='|' read -r topic p r c d f hex; do
  h_assert_eq "$p|$r|$c|$d|$f" "P=|R=|C=|D=|F=" "properties forwarded on $topic"
  case "$topic" in
  */typing) h_assert_eq "$(echo "$hex" | ptool decode typing | p_json_field user)" alice "typing relayed" ;;
  *)
    echo "$hex" | ptool decode envelope >"$H_TMP/env.json"
    h_assert_eq "$(p_json_field sender <"$H_TMP/env.json")" alice "sender on $topic"
    h_assert_eq "$(p_json_field sender_client_id <"$H_TMP/env.json")" "" "sender_client_id on $topic"
    ;;
  esac
done <"$H_TMP/bob.out"
h_assert_eq "$(cut -d'|' -f1 "$H_TMP/bob.out" | sort | tr '\n' ' ')" \
  "$GIN parley/u/bob/inbox parley/u/bob/typing " "one delivery per topic"
h_assert_not_contains "$(cat "$H_TMP/bob.out")" "secret" "user property anywhere"
h_pass
