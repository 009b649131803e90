#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two clients want the same key exclusively: one is granted, the other is
# told busy; after a release the other is granted with a larger fencing
# token, the first one's old token is refused (stale_token), and query
# names the holder throughout.
source "$(dirname "$0")/lib.sh"
lab_start

KEY=it-contention
A=101
B=102

ctl_rc out --client-id $A lock acquire $KEY --lease 60000
assert_eq "$CTL_RC" 0 "A's acquire exit status ($out)"
assert_eq "$(jget "$out" status)" granted "A's acquire"
tok_a=$(jget "$out" token)
say "A granted, token $tok_a"

ctl_rc out --client-id $B lock acquire $KEY --lease 60000
assert_eq "$(jget "$out" status)" busy "B's acquire while A holds"
assert_eq "$CTL_RC" 1 "B's acquire exit status ($out)"

ctl_rc out lock query $KEY
assert_eq "$CTL_RC" 0 "query exit status ($out)"
assert_eq "$(jget "$out" held)" true "query while A holds ($out)"
assert_eq "$(jget "$out" holder)" $A "holder while A holds ($out)"
assert_eq "$(jget "$out" token)" "$tok_a" "token while A holds ($out)"

ctl_rc out --client-id $A lock release $KEY --token "$tok_a"
assert_eq "$(jget "$out" status)" released "A's release"
assert_eq "$CTL_RC" 0 "A's release exit status"

ctl_rc out --client-id $B lock acquire $KEY --lease 60000
assert_eq "$(jget "$out" status)" granted "B's acquire after A released"
tok_b=$(jget "$out" token)
assert_gt "$tok_b" "$tok_a" "B's token above A's"
say "B granted, token $tok_b"

# A comes back with its old token: fenced off, B keeps the lock.
ctl_rc out --client-id $A lock release $KEY --token "$tok_a"
assert_eq "$(jget "$out" status)" stale_token "release with A's old token"
assert_eq "$CTL_RC" 1 "stale release exit status"
ctl_rc out --client-id $A lock renew $KEY --token "$tok_a"
assert_eq "$(jget "$out" status)" stale_token "renew with A's old token"

ctl_rc out lock query $KEY
assert_eq "$(jget "$out" held)" true "query while B holds ($out)"
assert_eq "$(jget "$out" holder)" $B "holder while B holds ($out)"
assert_eq "$(jget "$out" token)" "$tok_b" "token while B holds ($out)"

ctl_rc out --client-id $B lock release $KEY --token "$tok_b"
assert_eq "$(jget "$out" status)" released "B's release"
ctl_rc out lock query $KEY
assert_eq "$(jget "$out" held)" false "query after both released ($out)"

# A second release of the same grant: nothing is held any more.
ctl_rc out --client-id $B lock release $KEY --token "$tok_b"
case $(jget "$out" status) in
not_held | stale_token) ;;
*) fail "double release answered '$out'" ;;
esac
[ "$(counter lock.stale_token)" -ge 2 ] || fail "stale_token counter below 2"
