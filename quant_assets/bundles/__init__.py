"""Offline bundles: collect where the network is, train where it is not.

A bundle is a tar.gz of lake partitions plus ``bundle_manifest.json``. Importing one verifies
every byte first, then unpacks it under ``<home>/bundles/<bundle_id>/``; the ``bundle`` data
source reads unpacked bundles, so imported data flows through the very same assets and
checks as data fetched from an exchange.
"""
