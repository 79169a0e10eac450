"""Check-in use cases, one module per use case (like `events.service`):

- `scanning`: scanning a pass exactly once (`scan`, the door's hot path) and offline sync
  (`sync`); its rules in `deciding`, its reads in `loading`, its types in `model`;
- `checkpoints`: the check-in lists of an event (list, create, update; audited);
- `undo`: undoing a mistaken check-in (audited);
- `door`: the door list, the scan log and the offline bundle;
- `stats`: live counts.

Each use case checks the caller's capability itself (`access`) and writes its audit row;
routes call exactly one of them. The names below are the package's public surface for
other code (tests, the benchmark).
"""

from admitone.checkins.service.checkpoints import (
    CheckpointSpec,
    create_checkpoint,
    default_checkpoint,
    get_checkpoint,
    list_checkpoints,
    update_checkpoint,
)
from admitone.checkins.service.model import ScanInput, checkins_topic
from admitone.checkins.service.scanning import scan_pass, sync_scans
from admitone.checkins.service.undo import undo_check_in

__all__ = [
    "CheckpointSpec",
    "ScanInput",
    "checkins_topic",
    "create_checkpoint",
    "default_checkpoint",
    "get_checkpoint",
    "list_checkpoints",
    "scan_pass",
    "sync_scans",
    "undo_check_in",
    "update_checkpoint",
]
