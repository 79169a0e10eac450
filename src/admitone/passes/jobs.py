"""Pass jobs: the wallet pushes and updates (passes.wallet.jobs) and badge runs."""

from admitone.passes import badge_runs
from admitone.passes.wallet import jobs as wallet_jobs

__all__ = ["badge_runs", "wallet_jobs"]
