#!/usr/bin/python3
# The seed's usage example, through GObject introspection: a Server on
# localhost with a message handler, a Client that establishes a secure
# session, listens and sends "Hello, secure world!", and a reply from the
# server that the client receives. Run against the uninstalled build with
# GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at _build/src/lib.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
import sys

import gi

gi.require_version("SecureComm", "1")
from gi.repository import GLib, SecureComm

loop = GLib.MainLoop()
received = []
replies = []


def message_handler(server, client_id, message):
    text = message.get_data().decode()
    print(f"# server got {text!r} from {client_id}")
    received.append(text)
    server.send_message(client_id, "Hello back, client!")


def on_reply(client, message):
    text = message.get_data().decode()
    print(f"# client got {text!r}")
    replies.append(text)
    loop.quit()


server = SecureComm.Server.new("localhost", 0, None)  # Server(host, port, tls_config); 0: any free port
server.connect("message-received", message_handler)
server.start()
port = server.get_port()

client = SecureComm.Client.new(None)  # Client(tls_config)
client.set_pinned_fingerprint(server.get_identity().get_fingerprint())
client.connect("state-changed", lambda c, old, new: print(f"# client state: {new.value_nick}"))
client.connect("error", lambda c, err: print(f"# client error: {err.message}"))
client.establish_secure_session("localhost", port, None)
assert client.is_connected()
client.connect("message-received", on_reply)
client.start_listening()
client.send_message("Hello, secure world!")

GLib.timeout_add_seconds(20, loop.quit)  # a guard against hanging, not a timing check
loop.run()

client.stop_listening()
client.shutdown()

# An error comes through introspection in the SecureComm domain, whose
# codes are the SecureComm.Error enumeration (glib:error-domain in the GIR).
unknown_refused = False
try:
    server.send_message("no-such-client", "lost")
except GLib.Error as e:
    print(f"# refused: {e.message}")
    unknown_refused = e.matches(SecureComm.error_quark(), SecureComm.Error.UNKNOWN_CLIENT)
server.shutdown()

ok = received == ["Hello, secure world!"] and replies == ["Hello back, client!"]
print("1..2")
print(("ok" if ok else "not ok") + " 1 - the seed's example: message and reply delivered")
print(("ok" if unknown_refused else "not ok") + " 2 - an unknown client id: SecureComm.Error.UNKNOWN_CLIENT")
sys.exit(0 if ok and unknown_refused else 1)
