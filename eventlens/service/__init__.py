"""The REST service of eventlens (``eventlens serve``): its app, jobs, routes and the downloads of URLs."""
