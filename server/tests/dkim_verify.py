"""Verifies a message's DKIM signature with dkimpy (an independent implementation), taking the
public key from a file instead of DNS. Usage: dkim_verify.py MESSAGE_FILE PUBLIC_KEY_B64_FILE.
Prints the signed header list and exits 0 when the signature verifies, 1 when it does not."""

import sys

import dkim

message = open(sys.argv[1], "rb").read()
public_key = open(sys.argv[2], "rb").read().strip()


def dns(name, timeout=5):
    return b"v=DKIM1; k=rsa; p=" + public_key


verifier = dkim.DKIM(message)
ok = verifier.verify(dnsfunc=dns)
signature = dkim.util.parse_tag_value(
    [value for name, value in verifier.headers if name.lower() == b"dkim-signature"][0]
)
print(signature[b"h"].decode())
sys.exit(0 if ok else 1)
