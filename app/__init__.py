"""PhoneGraph: one GraphQL API for operators' phones and hosted PBX."""

__version__ = "0.1.0"
