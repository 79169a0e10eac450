"""Writes a new migration from the difference between the models and the migrations' head.

    make migration m="add pass transfers"

Autogenerates against an empty SQLite database brought to head; read and edit the result
before committing (CONVENTIONS: migrations are reviewed code).
"""

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from admitone.migrate import alembic_config

message = " ".join(sys.argv[1:]).strip()
if not message:
    sys.exit('usage: make migration m="what changes"')
slug = "_".join(message.lower().split())[:40]
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
    config = alembic_config()
    config.set_main_option("file_template", f"{datetime.now(UTC):%Y_%m_%d_%H%M}_{slug}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)
