"""How a pass reaches its holder: ticket PDFs, wallet passes, badges and transfers (routes)."""
