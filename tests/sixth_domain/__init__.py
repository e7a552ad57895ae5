"""A throwaway sixth domain (plants) used only by the tests of the domain registry."""
