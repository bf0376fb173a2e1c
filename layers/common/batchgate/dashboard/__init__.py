"""The dashboard: a web app of plain ES modules and CSS, served by the API function at ``/ui``
(``assets`` answers a path; ``static/`` holds the files, written by hand, no build step)."""
