"""Downloader middlewares: registry tokens, rate limits, proxies."""
