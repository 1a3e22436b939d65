"""Hosted PBX: SIP domains, users, groups, queues and trusted networks."""
