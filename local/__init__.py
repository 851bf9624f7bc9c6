"""The local cloud: loopback emulators of alimt, OSS and an image host, plus an FC-like runner.

Never deployed. The real, unmodified SDKs talk to these servers over HTTP on 127.0.0.1.
"""
