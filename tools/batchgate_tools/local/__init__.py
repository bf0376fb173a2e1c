"""The local stack: embedded AWS (moto server), its persistence, and the local API, pollers and functions."""
