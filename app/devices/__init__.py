"""Devices: phones and their lines, models, templates, DECT bases, provisioning."""
