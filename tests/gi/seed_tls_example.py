#!/usr/bin/python3
# The seed's usage example in TLS mode, through GObject introspection: the
# seed's generate_test_certs (here `securecomm gen-certs`), a Server with
# TLSConfig(enabled, server cert, key, CA, CERT_REQUIRED), a Client with
# its own certificate; the client's SecureComm session runs inside the TLS
# connection and is bound to it. Usage: seed_tls_example.py SECURECOMM_TOOL.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
import subprocess
import sys
import tempfile

import gi

gi.require_version("SecureComm", "1")
from gi.repository import GLib, SecureComm

certs = tempfile.mkdtemp(prefix="sc-gi-tls-") + "/test_certs"
subprocess.run([sys.argv[1], "gen-certs", certs], check=True)

loop = GLib.MainLoop()
received = []
replies = []


def message_handler(server, client_id, message):
    received.append(message.get_data().decode())
    server.send_message(client_id, "Hello back, client!")


def on_reply(client, message):
    replies.append(message.get_data().decode())
    loop.quit()


server_tls = SecureComm.TlsConfig.new(
    True, f"{certs}/server.crt", f"{certs}/server.key", f"{certs}/ca.crt",
    SecureComm.TlsVerifyMode.REQUIRED)
server = SecureComm.Server.new("localhost", 0, server_tls)
server.connect("message-received", message_handler)
server.start()

client_tls = SecureComm.TlsConfig.new(
    True, f"{certs}/client.crt", f"{certs}/client.key", f"{certs}/ca.crt",
    SecureComm.TlsVerifyMode.REQUIRED)
client = SecureComm.Client.new(client_tls)  # trusts the server its certificate proves
client.connect("error", lambda c, err: print(f"# client error: {err.message}"))
client.establish_secure_session("localhost", server.get_port(), None)
client.connect("message-received", on_reply)
client.start_listening()
client.send_message("Hello, secure world!")

GLib.timeout_add_seconds(20, loop.quit)  # a guard against hanging, not a timing check
loop.run()

info = server.get_client_info(server.get_client_ids()[0]).unpack()
client.stop_listening()
client.shutdown()
server.shutdown()

print("1..2")
ok = received == ["Hello, secure world!"] and replies == ["Hello back, client!"]
print(("ok" if ok else "not ok") + " 1 - TLS mode: message and reply delivered")
print(("ok" if info.get("tls") else "not ok") + " 2 - the server reports the session inside TLS")
sys.exit(0 if ok and info.get("tls") else 1)
