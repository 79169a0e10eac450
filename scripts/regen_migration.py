"""Regenerates migrations/versions/*_initial.py from the models against an empty database.

Until the first tagged release the schema is one reviewed migration; after it, new
migrations are added with `alembic revision --autogenerate` instead.
"""

import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from admitone.migrate import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("*_initial.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
    config = alembic_config()
    config.set_main_option("file_template", "2026_11_25_0001_initial")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
print("regenerated", next((MIGRATIONS / "versions").glob("*_initial.py")))
