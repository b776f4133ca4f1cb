"""Scrapy project that collects Docker Hub metadata into a queryable database."""

__version__ = "0.1.0"
