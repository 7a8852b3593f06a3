"""Real HTTP fakes of remote services, served on 127.0.0.1 for tests."""
