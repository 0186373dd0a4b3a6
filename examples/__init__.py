"""Example rule packs and events; shipped inside Lastmile as `lastmile.examples` for the demo."""
