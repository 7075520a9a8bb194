"""Decentralized games over the mesh: craps with commit-reveal dice, signed
moves, vote-based consensus and anti-cheat (see docs/GAMES.md)."""
