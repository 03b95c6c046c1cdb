"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the channel tests.

Prints `PORT <n>` once it accepts connections, then one JSON line per mail received: the
envelope, the headers, and the text and HTML parts as Python's own MIME parser reads them.
With `--refuse`, every mail is refused with a temporary 451 (to test retries).
"""

import asyncio
import email
import email.policy
import json
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, refuse):
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }), flush=True)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Sink("--refuse" in sys.argv), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    # Runs until the test closes stdin (or dies).
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
