"""Pure parsing of Docker Hub and registry JSON into items; no Scrapy here."""
