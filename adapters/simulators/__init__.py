"""The sandbox's stand-ins for the built-in agencies, one module each.

No adapter imports them: the production path carries no test fake.
"""
