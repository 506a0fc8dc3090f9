"""Tablets: roster, attendance and the service behind /ws/tablet (see service.py)."""
