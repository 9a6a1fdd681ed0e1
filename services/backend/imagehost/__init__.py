"""imagehost: the backend of a small self-hosted image host.

Run it with `python -m imagehost`; see README.md for the settings.
"""
