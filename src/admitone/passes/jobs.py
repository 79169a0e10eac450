"""Pass jobs: the wallet pushes and updates (passes.wallet.jobs) and badge runs."""

from admitone.passes.wallet import jobs as wallet_jobs

__all__ = ["wallet_jobs"]
