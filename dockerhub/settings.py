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

DOWNLOADER_MIDDLEWARES = {
    # After RedirectMiddleware (600) in process_request order, so a blob
    # request redirected to the CDN is seen, and stripped, on its way out.
    "dockerhub.middlewares.registry_auth.RegistryAuthMiddleware": 650,
}

# -- crawl shape ----------------------------------------------------------
# Docker Hub caps page_size at 100; fewer means more requests for the same data.
DOCKERHUB_PAGE_SIZE = 100

# -- storage --------------------------------------------------------------
DOCKERHUB_DB = "dockerhub.db"
DOCKERHUB_DB_BATCH_SIZE = 500
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
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]

LOG_LEVEL = "INFO"

