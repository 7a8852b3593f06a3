"""Giftboard's test suite (a package, so tests import helpers as ``tests.support…`` and ``tests.fakes…``)."""
