"""``Request.meta`` keys that pass facts from one component to another.

Keys a single component keeps for itself stay in that component's module.
"""

#: A request to the registry; a redirect of it must not carry the token.
REGISTRY = "dockerhub_registry"
#: A manifest GET: it spends Docker Hub's pull quota.
PULL = "dockerhub_pull"
#: ``(data,)`` a middleware already parsed from the answer's JSON body.
PARSED_JSON = "dockerhub_parsed_json"
#: Set by the retry middleware when it gave up on the request (with the
#: reason), after logging it; the spider's errback need not log it again.
GAVE_UP = "dockerhub_gave_up"
