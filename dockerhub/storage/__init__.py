"""Where items end up.  SQLite is the one backend; it imports no Scrapy."""
