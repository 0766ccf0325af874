"""A small helpdesk application: the code under test in ``examples/test_ticket_summaries.py``."""

from .summaries import summarise_ticket

__all__ = ["summarise_ticket"]
