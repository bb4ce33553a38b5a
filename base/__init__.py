"""Tessera's base: what every layer may import, and which imports nothing of Tessera.

The error family (`errors`), the extension-point registry (`registry`), the typed settings
(`settings`), the SQLite migration runner (`migrations`), the wire contract that devices and
ingest both speak (`wire`: topics, JSON and binary frames; `mqtt`: connecting to the broker),
structured logging (`logs`) and the physical models that simulators and encoders share
(`bearing`).
"""
