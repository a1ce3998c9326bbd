#!/usr/bin/env python3
"""Independent reference for Parley's end-to-end construction (docs/protocol.md,
"End-to-end encryption"), written from the spec with Python's `cryptography`
package and the standard library only - no code shared with client-lib/src/crypto.
It prints parley_kat.txt, the known-answer vectors that tests/crypto/test_kat.c
checks the C core against:

    python3 tests/crypto/vectors/gen_parley_kat.py > tests/crypto/vectors/parley_kat.txt

Covered: Ed25519 identity keys from seeds, the signed-prekey signature, the
Ed25519 -> X25519 conversion, X3DH with and without a one-time prekey, the
first KDF_RK step of the initiator, the chain step, the message-key expansion,
the serialized RatchetHeader and the XChaCha20-Poly1305 ciphertext of the first
message, a complete sender-key message (iteration 5), one safety number, and
one complete first message as wire bytes: the Content protobuf alice encrypts
(first_content), the E2EMessage{prekey} that is the Envelope body
(first_message) and the Envelope alice publishes to parley/u/bob/inbox
(first_envelope), all from the fixed keys above (signed prekey id 7, one-time
prekey id 42).
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

P = 2**255 - 19
RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def hkdf(salt, ikm, info, length):
    prk = hmac.new(salt if salt else b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def ed_keypair(seed):
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    return sk, sk.public_key().public_bytes(**RAW)


def ed_pk_to_x25519(pk):
    y = int.from_bytes(pk, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, P - 2, P) % P          # Montgomery u = (1 + y) / (1 - y)
    return u.to_bytes(32, "little")


def ed_seed_to_x25519_secret(seed):
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def x_pub(secret):
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(**RAW)


def dh(secret, public):
    return X25519PrivateKey.from_private_bytes(secret).exchange(
        X25519PublicKey.from_public_bytes(public))


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def hchacha20(key, nonce16):
    s = list(struct.unpack("<4I", b"expand 32-byte k")) + list(struct.unpack("<8I", key)) + \
        list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)
    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_encrypt(key, nonce24, pt, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0" * 4 + nonce24[16:], pt, ad)


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def ratchet_header(ratchet_key, pn, n):
    out = b"\x0a\x20" + ratchet_key                  # field 1, bytes
    if pn:
        out += b"\x10" + varint(pn)                   # field 2, varint (proto3: 0 omitted)
    if n:
        out += b"\x18" + varint(n)                    # field 3
    return out


def pb_bytes(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def pb_varint(field, v):
    return varint(field << 3) + varint(v) if v else b""   # proto3: 0 omitted


def safety_half(key, uid):
    h = b"\0\0" + key + uid.encode()
    for _ in range(5200):
        h = hashlib.sha512(h + key).digest()
    return "".join("%05d" % (int.from_bytes(h[i:i + 5], "big") % 100000) for i in range(0, 30, 5))


def main():
    fixed = lambda label: hashlib.sha256(b"parley kat " + label.encode()).digest()
    alice_seed, bob_seed = fixed("alice identity"), fixed("bob identity")
    spk_secret, opk_secret = fixed("bob signed prekey"), fixed("bob one-time prekey")
    eph_secret, ratchet_secret = fixed("alice ephemeral"), fixed("alice ratchet")
    alice_sk, alice_pk = ed_keypair(alice_seed)
    bob_sk, bob_pk = ed_keypair(bob_seed)
    spk_pub, opk_pub, eph_pub = x_pub(spk_secret), x_pub(opk_secret), x_pub(eph_secret)
    spk_sig = bob_sk.sign(spk_pub)
    ik_a_x, ik_b_x = ed_seed_to_x25519_secret(alice_seed), ed_pk_to_x25519(bob_pk)
    assert x_pub(ik_a_x) == ed_pk_to_x25519(alice_pk)
    dh1, dh2, dh3 = dh(ik_a_x, spk_pub), dh(eph_secret, ik_b_x), dh(eph_secret, spk_pub)
    dh4 = dh(eph_secret, opk_pub)
    info = b"Parley_X3DH_v1"
    sk = hkdf(b"\0" * 32, b"\xff" * 32 + dh1 + dh2 + dh3 + dh4, info, 32)
    sk_no_opk = hkdf(b"\0" * 32, b"\xff" * 32 + dh1 + dh2 + dh3, info, 32)
    ad = alice_pk + bob_pk
    # Initiator's first ratchet step and first message.
    ratchet_pub = x_pub(ratchet_secret)
    okm = hkdf(sk, dh(ratchet_secret, spk_pub), b"Parley_Ratchet_v1", 64)
    rk1, cks = okm[:32], okm[32:]
    mk = hmac.new(cks, b"\x01", hashlib.sha256).digest()
    ck_next = hmac.new(cks, b"\x02", hashlib.sha256).digest()
    mkeys = hkdf(b"\0" * 32, mk, b"Parley_MessageKeys_v1", 56)
    key, nonce = mkeys[:32], mkeys[32:]
    header = ratchet_header(ratchet_pub, 0, 0)
    pt = b"hello bob"
    ct = xchacha20poly1305_encrypt(key, nonce, pt, ad + header)
    header_7_3 = ratchet_header(ratchet_pub, 7, 300)
    # Sender keys: iteration 5 of a chain.
    chain_key, chain_id, group = fixed("sender chain"), 0x01020304, "g:AAAAAAAAAAAAAAAAAAAAAA"
    ck = chain_key
    for _ in range(5):
        ck = hmac.new(ck, b"\x02", hashlib.sha256).digest()
    seed5 = hmac.new(ck, b"\x01", hashlib.sha256).digest()
    skeys = hkdf(b"\0" * 32, seed5, b"Parley_SenderKeys_v1", 56)
    sk_header = b"Parley_SenderKey_v1" + bytes([len(group)]) + group.encode() + \
        struct.pack(">II", chain_id, 5)
    sk_ct = xchacha20poly1305_encrypt(skeys[:32], skeys[32:], pt, sk_header)
    sig_sk, sig_pk = ed_keypair(fixed("sender signature"))
    sk_sig = sig_sk.sign(sk_header + sk_ct)
    a_half, b_half = safety_half(alice_pk, "alice"), safety_half(bob_pk, "bob")
    # One complete first message, as it travels: Content -> RatchetMessage ->
    # PreKeyMessage -> E2EMessage (= Envelope.body) -> Envelope. Fields in
    # field-number order, proto3 defaults omitted (what protobuf-c emits).
    first_cmid = b"kat-first-message"
    content = pb_bytes(1, pt) + pb_varint(4, 1700000000000) + pb_bytes(5, first_cmid)
    first_ct = xchacha20poly1305_encrypt(key, nonce, content, ad + header)
    ratchet_msg = pb_bytes(1, header) + pb_bytes(2, first_ct)
    prekey_msg = (pb_bytes(1, alice_pk) + pb_bytes(2, eph_pub) + pb_varint(3, 7) +
                  pb_varint(4, 1) + pb_varint(5, 42) + pb_bytes(6, ratchet_msg))
    first_message = pb_bytes(1, prekey_msg)
    first_envelope = pb_bytes(6, first_cmid) + pb_bytes(7, first_message) + pb_varint(10, 1)

    rows = [
        ("alice_seed", alice_seed), ("alice_ik", alice_pk), ("bob_seed", bob_seed),
        ("bob_ik", bob_pk), ("bob_ik_x25519", ik_b_x), ("alice_ik_x25519_secret", ik_a_x),
        ("spk_secret", spk_secret), ("spk_pub", spk_pub), ("spk_signature", spk_sig),
        ("opk_secret", opk_secret), ("opk_pub", opk_pub), ("eph_secret", eph_secret),
        ("eph_pub", eph_pub), ("x3dh_sk", sk), ("x3dh_sk_no_opk", sk_no_opk), ("ad", ad),
        ("ratchet_secret", ratchet_secret), ("ratchet_pub", ratchet_pub), ("rk1", rk1),
        ("cks", cks), ("mk_seed", mk), ("ck_next", ck_next), ("aead_key", key),
        ("aead_nonce", nonce), ("header", header), ("header_pn7_n300", header_7_3),
        ("plaintext", pt), ("ciphertext", ct), ("sk_chain_key", chain_key),
        ("sk_seed_5", seed5), ("sk_header_5", sk_header), ("sk_ciphertext_5", sk_ct),
        ("sk_signature_key", sig_pk), ("sk_signature_5", sk_sig),
        ("first_content", content), ("first_ciphertext", first_ct),
        ("first_message", first_message), ("first_envelope", first_envelope),
    ]
    print("# Parley end-to-end known answers, generated by gen_parley_kat.py (an independent")
    print("# Python reference using the `cryptography` package); see that script.")
    for k, v in rows:
        print("%s = %s" % (k, v.hex()))
    print("sk_chain_id = %08x" % chain_id)
    print("sk_group = %s" % group.encode().hex())
    print("safety_number = %s" % (min(a_half, b_half) + max(a_half, b_half)))


if __name__ == "__main__":
    main()
