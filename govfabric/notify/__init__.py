"""Notifications to principals: in-app, and by webhook and e-mail per the recipient's settings."""
