"""The web UI: pages generated at run time from the app model, over the service layer (see engine/web/app.py)."""
