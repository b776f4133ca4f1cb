"""The org, search and repo spiders."""
