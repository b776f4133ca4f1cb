"""Signals the spiders send to the pipelines.

Sent with ``crawler.signals.send_catch_log(signal, repo_name=...)``.
"""

#: The spider read every page of a repository's tag list without a cap, so
#: the tags it did not see have gone from Docker Hub.
tag_list_complete = object()
