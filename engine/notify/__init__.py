"""Notifications: tables (tables.py), channels (channels.py; the plugins email, wecom, dingtalk provide
them), messages (render.py), queueing in the event's transaction (queue.py), delivery of the outbox
(delivery.py), the in-app inbox (inbox.py) and the `jxc worker` / `jxc outbox` commands (cli.py)."""
