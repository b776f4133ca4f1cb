"""Scrapy settings of the dockerhub project.

Every ``DOCKERHUB_*`` setting is documented in the README.  Defaults aim at
the real Docker Hub and are polite to it; tests and the demo point the URLs
at local stand-ins.
"""

from dockerhub import __version__

BOT_NAME = "dockerhub"
SPIDER_MODULES = ["dockerhub.spiders"]
NEWSPIDER_MODULE = "dockerhub.spiders"
COMMANDS_MODULE = "dockerhub.commands"

# -- endpoints ------------------------------------------------------------
DOCKERHUB_HUB_URL = "https://hub.docker.com"
DOCKERHUB_REGISTRY_URL = "https://registry-1.docker.io"
DOCKERHUB_AUTH_URL = "https://auth.docker.io/token"

# -- registry -------------------------------------------------------------
# Go on from every tag to its manifests and layers (spider argument layers=).
DOCKERHUB_LAYERS = False
# A Docker ID and access token, sent only to DOCKERHUB_AUTH_URL's host; empty
# means anonymous.  The environment variables of the same names work too.
DOCKERHUB_USERNAME = ""
DOCKERHUB_TOKEN = ""
# Pull quota left untouched for the user's own `docker pull`s: a count of
# pulls ("10") or a share of the quota ("10%").
DOCKERHUB_PULL_RESERVE = "10%"
# Most manifest GETs one crawl may spend; None: no limit but the quota.
DOCKERHUB_PULL_BUDGET = None

DOWNLOADER_MIDDLEWARES = {
    # Proxy rotation, off unless ROTATING_PROXY_LIST or ROTATING_PROXY_LIST_PATH
    # is set.  The proxy goes into request.meta["proxy"] (never with its
    # credentials) and the download slot at 610, before any later middleware
    # keys state on them.  Answers pass middlewares in falling order: a ban is
    # judged at 620 and resent through another proxy at 610, before anything
    # numbered lower (RetryMiddleware, a 429 handler) would retry it as is.
    "dockerhub.middlewares.proxies.RotatingProxies": 610,
    "dockerhub.middlewares.proxies.ProxyBanDetection": 620,
    # After the proxy is chosen (610): the pull quota is per address.
    "dockerhub.middlewares.pull_quota.PullQuotaMiddleware": 640,
    # After RedirectMiddleware (600) in process_request order, so a blob
    # request redirected to the CDN is seen, and stripped, on its way out.
    "dockerhub.middlewares.registry_auth.RegistryAuthMiddleware": 650,
    # Retries with backoff, in the place of Scrapy's RetryMiddleware, and the
    # Hub's rate limit, which owns 429 (it paces from the response_downloaded
    # signal, so it sees every answer, proxied ones included).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "dockerhub.middlewares.retry.HubRetryMiddleware": 550,
    "dockerhub.middlewares.hub_ratelimit.HubRateLimitMiddleware": 560,
}

# -- crawl shape ----------------------------------------------------------
# Docker Hub caps page_size at 100; fewer means more requests for the same data.
DOCKERHUB_PAGE_SIZE = 100

# -- storage --------------------------------------------------------------
DOCKERHUB_DB = "dockerhub.db"
DOCKERHUB_DB_BATCH_SIZE = 1000
DOCKERHUB_DB_FLUSH_SECONDS = 5.0

ITEM_PIPELINES = {
    "dockerhub.pipelines.sqlite.SQLitePipeline": 500,
}

FEED_EXPORTERS = {"csv": "dockerhub.exporters.FlatCsvItemExporter"}
FEED_EXPORT_ENCODING = "utf-8"

# -- politeness -----------------------------------------------------------
USER_AGENT = (
    f"dockerhub-metadata-crawler/{__version__} (Scrapy; +https://hub.docker.com)"
)
ROBOTSTXT_OBEY = False  # an API, not pages; robots.txt does not cover it
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_TIMEOUT = 60
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
RETRY_ENABLED = True
RETRY_TIMES = 4
# No 429: HubRateLimitMiddleware waits for the rate limit and sends those
# requests again without using up RETRY_TIMES.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
# Seconds before the first retry, doubling with each one up to the maximum.
DOCKERHUB_RETRY_BACKOFF_BASE = 1.0
DOCKERHUB_RETRY_BACKOFF_MAX = 60.0
# Requests of each rate-limit window left unspent, for other clients on the
# same IP address.
DOCKERHUB_RATELIMIT_RESERVE = 1
# Seconds to pause after a 429 that has neither Retry-After nor
# X-RateLimit-Reset (Docker Hub's abuse limit counts per minute).
DOCKERHUB_RATELIMIT_DEFAULT_PAUSE = 60.0
# 429 answers one request may get before it is given up.
DOCKERHUB_RATELIMIT_MAX_RETRIES = 10

LOG_LEVEL = "INFO"

# -- proxies (scrapy-rotating-proxies) --------------------------------------
# ROTATING_PROXY_LIST / ROTATING_PROXY_LIST_PATH turn rotation on; unset here.
# Docker Hub's ban rules: 429 and a rate limiter's 403 are bans; 404, 401
# and the 403 past a search's last page are not.
ROTATING_PROXY_BAN_POLICY = "dockerhub.middlewares.proxy_bans.HubBanPolicy"
ROTATING_PROXY_LOGSTATS_INTERVAL = 30.0
ROTATING_PROXY_CLOSE_SPIDER = False
# How many proxies one request tries before its ban counts as a failure.
ROTATING_PROXY_PAGE_RETRY_TIMES = 5
# A banned proxy rests a random time up to BASE * 2**bans, at most CAP seconds.
ROTATING_PROXY_BACKOFF_BASE = 300.0
ROTATING_PROXY_BACKOFF_CAP = 3600.0

# -- progress -------------------------------------------------------------
EXTENSIONS = {
    "dockerhub.extensions.progress.ProgressLog": 500,
}
# Seconds between two progress lines in the log; 0 turns them off.
DOCKERHUB_PROGRESS_INTERVAL = 60.0
