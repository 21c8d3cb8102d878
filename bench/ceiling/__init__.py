"""The Django ceiling for bench/pages.py: the site's settings, no middleware, one fixed page."""
