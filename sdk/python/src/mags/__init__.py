"""mags: Python SDK for a mags server (self-hosted Linux sandboxes).

    from mags import Mags, MagsError

    m = Mags()                      # MAGS_API_TOKEN / MAGS_API_URL or ~/.mags/config.json
    result = m.run_and_wait("echo hello")
    print(result["exit_code"], [l["message"] for l in result["logs"]])
"""
from .client import DEFAULT_API_URL, ExecStream, JobStream, Mags, MagsError

__all__ = ["Mags", "MagsError", "JobStream", "ExecStream", "DEFAULT_API_URL"]
__version__ = "0.1.0"
