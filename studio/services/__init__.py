"""Services the studio's controllers call (no Qt widgets): storage is the one door to `engine.persistence`."""
