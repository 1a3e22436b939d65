"""Hot desking (Extension Mobility): users log in and out at shared phones (CONTRACT §6)."""
