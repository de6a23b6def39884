#!/bin/bash
# test-bus-policy.sh POLICY INTERFACE_XML: checks the system bus policy
# data/io.github.SecureComm1.conf on a private dbus-daemon configured like
# Debian's system bus (default deny for method calls and name ownership),
# with only our policy file included.
#
# A small Gio responder (/usr/bin/python3, python3-gi) owns
# io.github.SecureComm1 and exports the real interface XML; gdbus, run as
# various users through setpriv, calls it. What is proved:
#   - root, and a member of group securecomm, reach the daemon: methods,
#     properties, introspection;
#   - user nobody is refused by the bus itself (AccessDenied), for methods,
#     properties and introspection alike;
#   - a member is refused for an interface the policy does not list;
#   - user securecomm and root may own the name, nobody may not.
#
# dbus-daemon resolves the names in the policy (user and group securecomm)
# when it loads it, and the test needs an operator in that group and an
# outsider. So the daemon runs in a private mount namespace over copies of
# /etc/passwd and /etc/group that add them: the host is never changed. Needs
# root (for the namespace and to switch users); prints TAP, and "# SKIP"
# when it cannot run.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

WAIT_TRIES=50 # for the bus and the responder to start, 0.1 s apart
# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

policy=${1:?usage: test-bus-policy.sh POLICY INTERFACE_XML}
xml=${2:?usage: test-bus-policy.sh POLICY INTERFACE_XML}
readonly NAME=io.github.SecureComm1
readonly OBJ=/io/github/SecureComm1
readonly IFACE=io.github.SecureComm1.Server
readonly PYTHON=/usr/bin/python3

[[ $EUID -eq 0 ]] || skip_all "needs root to run callers as other users"
require_tools dbus-daemon gdbus setpriv getent
"$PYTHON" -c 'import gi; gi.require_version("Gio", "2.0")' 2>/dev/null \
  || skip_all "$PYTHON with python3-gi is not available"

tmp=$(mktemp -d /tmp/sc-bus-policy.XXXXXX) || exit 1
chmod 0755 "$tmp"
pids=()
cleanup () {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A uid/gid free in both /etc/passwd and /etc/group, from 61100 up.
free_id () {
  local id=$1
  while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do
    id=$((id + 1))
  done
  echo "$id"
}

# --- users: copies of /etc/passwd and /etc/group, seen by dbus-daemon only ---
# They add, when missing, the user and group securecomm, and always an
# operator (a member of the group) and an outsider (not a member).
unshare --mount true 2>/dev/null || skip_all "cannot create a mount namespace (unshare --mount)"
cp /etc/passwd "$tmp/passwd"
cp /etc/group "$tmp/group"
add_user () { # add_user NAME UID GID
  echo "$1:x:$2:$3:SecureComm policy test:/nonexistent:/usr/sbin/nologin" >>"$tmp/passwd"
}
if getent group securecomm >/dev/null; then
  sc_gid=$(getent group securecomm | cut -d: -f3)
else
  sc_gid=$(free_id 61100)
  echo "securecomm:x:$sc_gid:" >>"$tmp/group"
fi
if getent passwd securecomm >/dev/null; then
  sc_uid=$(getent passwd securecomm | cut -d: -f3)
else
  sc_uid=$(free_id 61100)
  add_user securecomm "$sc_uid" "$sc_gid"
fi
member_uid=$(free_id $((sc_uid > sc_gid ? sc_uid + 1 : sc_gid + 1)))
outsider_uid=$(free_id $((member_uid + 1)))
add_user sc-policy-member "$member_uid" "$member_uid"
add_user sc-policy-outsider "$outsider_uid" "$outsider_uid"
echo "sc-policy-member:x:$member_uid:" >>"$tmp/group"
echo "sc-policy-outsider:x:$outsider_uid:" >>"$tmp/group"
# Make the operator a member of securecomm: append to that group's line.
sed -i -E "s/^(securecomm:[^:]*:[0-9]+:)(.*)$/\1\2,sc-policy-member/; s/^(securecomm:[^:]*:[0-9]+:),/\1/" \
  "$tmp/group"
nobody_uid=$(id -u nobody)
nobody_gid=$(getent group nogroup | cut -d: -f3)
nobody_gid=${nobody_gid:-65534}

# --- the bus ---
mkdir "$tmp/system.d"
cp "$policy" "$tmp/system.d/"
cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <includedir>$tmp/system.d</includedir>
</busconfig>
EOF
# shellcheck disable=SC2016 # $1 is sh -c's own argument
unshare --mount sh -c 'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group \
  && exec dbus-daemon --nofork --nopidfile --config-file="$1/bus.conf"' sh "$tmp" \
  2>"$tmp/bus.log" &
pids+=($!)
wait_for test -S "$tmp/bus" || bail_out "dbus-daemon did not start" "$tmp/bus.log"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/bus"

# --- the responder ---
cat >"$tmp/responder.py" <<'EOF'
# responder.py XML own|serve: "own" asks for the name and prints "allowed" or
# the error; "serve" owns it, prints "owned" and answers calls.
import sys
from gi.repository import Gio, GLib

NAME = "io.github.SecureComm1"
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)


def request_name():
    return conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "RequestName", GLib.Variant("(su)", (NAME, 4)),
                          GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, -1, None)


def on_call(conn, sender, path, iface, method, params, invocation):
    invocation.return_value(GLib.Variant("(as)", (["responder-ok"],)))


def get_property(conn, sender, path, iface, prop):
    return GLib.Variant("s", "responder-version")


if sys.argv[2] == "own":
    try:
        request_name()
        print("allowed")
    except GLib.Error as e:
        print(Gio.DBusError.get_remote_error(e) or e.message)
    sys.exit(0)
node = Gio.DBusNodeInfo.new_for_xml(open(sys.argv[1]).read())
conn.register_object("/io/github/SecureComm1", node.interfaces[0], on_call, get_property, None)
reply = request_name().unpack()[0]
print("owned" if reply == 1 else "not owned: %d" % reply, flush=True)
GLib.MainLoop().run()
EOF

# as UID GID [GROUPS] -- CMD...: runs CMD as that user.
as_user () {
  local uid=$1 gid=$2 groups=$3
  shift 4
  if [[ -n $groups ]]; then
    setpriv --reuid="$uid" --regid="$gid" --groups="$groups" -- "$@"
  else
    setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
  fi
}

as_user "$sc_uid" "$sc_gid" "" -- "$PYTHON" "$tmp/responder.py" "$xml" serve \
  >"$tmp/responder.out" 2>&1 &
pids+=($!)
wait_for grep -q owned "$tmp/responder.out"

# check_has DESCRIPTION EXPECTED OUTPUT: passes when OUTPUT contains EXPECTED.
check_has () {
  if [[ $3 == *"$2"* ]]; then
    ok "$1"
  else
    not_ok "$1" "expected: $2" "got: $(head -n 5 <<<"$3")"
  fi
}

call () { # call UID GID GROUPS METHOD [ARGS...]
  local uid=$1 gid=$2 groups=$3 method=$4
  shift 4
  as_user "$uid" "$gid" "$groups" -- gdbus call --system --dest "$NAME" --object-path "$OBJ" \
    --method "$method" "$@" 2>&1
}

denied=org.freedesktop.DBus.Error.AccessDenied
check_has "user securecomm owns the name (the daemon's user)" "owned" "$(cat "$tmp/responder.out")"
check_has "root may own the name" "allowed" "$("$PYTHON" "$tmp/responder.py" "$xml" own 2>&1)"
check_has "nobody may not own the name" "$denied" \
  "$(as_user "$nobody_uid" "$nobody_gid" "" -- "$PYTHON" "$tmp/responder.py" "$xml" own 2>&1)"
check_has "root calls GetClientIds and reaches the daemon" "responder-ok" \
  "$(call 0 0 "" "$IFACE.GetClientIds")"
check_has "root reads a property" "responder-version" \
  "$(call 0 0 "" org.freedesktop.DBus.Properties.Get "$IFACE" Version)"
check_has "nobody is refused GetClientIds by the bus" "$denied" \
  "$(call "$nobody_uid" "$nobody_gid" "" "$IFACE.GetClientIds")"
check_has "nobody is refused Shutdown by the bus" "$denied" \
  "$(call "$nobody_uid" "$nobody_gid" "" "$IFACE.Shutdown")"
check_has "nobody is refused Properties.Get by the bus" "$denied" \
  "$(call "$nobody_uid" "$nobody_gid" "" org.freedesktop.DBus.Properties.Get "$IFACE" Version)"
check_has "nobody is refused Introspect by the bus" "$denied" \
  "$(call "$nobody_uid" "$nobody_gid" "" org.freedesktop.DBus.Introspectable.Introspect)"
check_has "a member of group securecomm calls GetClientIds" "responder-ok" \
  "$(call "$member_uid" "$member_uid" "$sc_gid" "$IFACE.GetClientIds")"
check_has "a member of group securecomm reads a property" "responder-version" \
  "$(call "$member_uid" "$member_uid" "$sc_gid" org.freedesktop.DBus.Properties.Get "$IFACE" \
       Version)"
check_has "a member is refused an interface the policy does not list" "$denied" \
  "$(call "$member_uid" "$member_uid" "$sc_gid" org.example.NotListed.Method)"
check_has "a user outside group securecomm is refused GetClientIds" "$denied" \
  "$(call "$outsider_uid" "$outsider_uid" "" "$IFACE.GetClientIds")"
if [[ $failed -ne 0 ]]; then
  echo "# dbus-daemon said:"
  sed 's/^/#   /' "$tmp/bus.log"
fi
finish
