"""The signed information exchange: messages, signatures, links, receivers and the ledger.

In: what the stages want to tell each other (launch reports, national tracks, the fused picture,
decisions). Out: signed canonical bytes carried by a `Transport`, verified by a `Receiver`
(rejections counted by reason) and written to a hash-chained `Ledger`, each line signed by the
ledger's owner and the whole sealed by it, that anyone can check with `verify_ledger`
(``jointbmd ledger verify FILE``; what it can and cannot detect: see `ledger`).

A typical wiring::

    keys = generate_keys(["NATO", "Russia", "fusion"])          # or seed=... in tests
    ring = KeyRing.from_private(keys)
    net = SimulatedNetwork.star("fusion", ["NATO", "Russia"], rng, uplink=Link(0.5, 0.2, 0.01))
    nato = Signer("NATO", keys["NATO"])
    centre_signer = Signer("fusion", keys["fusion"])
    ledger = Ledger("fusion.ledger", "fusion", ring, signer=centre_signer)
    centre = Receiver("fusion", ring, ledger=ledger)
    net.send("NATO", "fusion", nato.sign(TrackReport(...), t).wire, t)
    for message in centre.poll(net, t_now): ...
    centre.rejections          # {"bad_signature": 2, ...}
    ledger.close()             # the owner's seal: a ledger cut short no longer verifies

Modules: `messages` (bodies, envelope, canonical bytes), `signing` (keys, `Signer`, `KeyRing`),
`links` (`Transport`, `Link`, `SimulatedNetwork`), `receiver` (`Receiver`), `ledger` (`Ledger`,
`verify_ledger`, `export_picture`, `compare_pictures`, `compare_ledgers`).
"""

from __future__ import annotations

from .ledger import (
    Ledger,
    LedgerComparison,
    LedgerEntry,
    LedgerInvalid,
    LedgerReport,
    PictureComparison,
    PictureDifference,
    compare_ledgers,
    compare_pictures,
    export_picture,
    verify_ledger,
)
from .links import Delivery, Link, NoLink, SimulatedNetwork, Transport
from .messages import (
    BODY_KINDS,
    VERSION,
    Acknowledgement,
    Body,
    EngagementRequest,
    Envelope,
    FusedPicture,
    KillAssessment,
    LaunchReport,
    LedgerSeal,
    MalformedMessage,
    Order,
    SignedMessage,
    TrackBatchReport,
    TrackReport,
    Vote,
    canonical_json,
    decode_envelope,
    track_reports,
)
from .receiver import Receiver
from .signing import (
    REASONS,
    KeyRing,
    Rejected,
    Signer,
    generate_keys,
    load_private_key,
    load_public_key,
    open_message,
    save_keys,
)

__all__ = [
    "Acknowledgement",
    "BODY_KINDS",
    "REASONS",
    "VERSION",
    "Body",
    "Delivery",
    "EngagementRequest",
    "Envelope",
    "FusedPicture",
    "KeyRing",
    "KillAssessment",
    "LaunchReport",
    "Ledger",
    "LedgerEntry",
    "LedgerComparison",
    "LedgerInvalid",
    "LedgerReport",
    "LedgerSeal",
    "Link",
    "MalformedMessage",
    "NoLink",
    "Order",
    "PictureComparison",
    "PictureDifference",
    "Receiver",
    "Rejected",
    "SignedMessage",
    "SimulatedNetwork",
    "Signer",
    "TrackBatchReport",
    "TrackReport",
    "Transport",
    "Vote",
    "canonical_json",
    "compare_ledgers",
    "compare_pictures",
    "decode_envelope",
    "export_picture",
    "generate_keys",
    "load_private_key",
    "load_public_key",
    "open_message",
    "save_keys",
    "track_reports",
    "verify_ledger",
]
