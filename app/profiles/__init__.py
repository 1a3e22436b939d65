"""Extension Mobility profiles and their XML validation."""
