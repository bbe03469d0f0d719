"""The automated researcher: evaluation server, client, agent loop, proposers, hack detectors.

Submodules are imported on demand (``server`` and ``agent`` pull in the pipeline and
torch; ``admin`` and ``db`` do not), so the key-management CLI starts fast.
"""
