"""Domain-free plumbing shared by every Shiftbridge package."""
