"""Test doubles that speak the deploy wire protocols: an FTP server and a phone simulator."""
