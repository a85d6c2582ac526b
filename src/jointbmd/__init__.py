"""jointbmd: an open simulation of a jointly operated European ballistic-missile defence.

The data flow, stage by stage (see docs/design.md):
scenario -> truth (trajectory) -> sensing (sensors) -> national tracking (tracking)
-> exchange (signed messages, ledger) -> fusion centre (fusion) -> decision (arrangements)
-> engagement -> outcome records -> campaign -> store -> reports.
"""

__version__ = "0.1.0"
