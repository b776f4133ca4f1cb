"""Project commands; ``crawl`` replaces Scrapy's to check input first."""
