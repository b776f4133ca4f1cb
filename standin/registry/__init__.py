"""Local stand-ins for a container registry, used by the tests.

``distribution`` runs the real CNCF distribution server (``docker-registry``)
on loopback behind ``tokens``, a JWT token service; ``push`` fills it with a
small, deterministic set of images. ``fake`` imitates what the real server
cannot show: schema 1 manifests, Windows foreign layers, pull quotas and blob
redirects to a second host that refuses ``Authorization``; ``fake_data``
builds the content it serves by default.
"""
