"""Dataset loaders. Data directory: ``--data-dir``, then ``$INFWIDTH_DATA``, then ``../shared/data``.

Every shared file is sha256-verified; nothing is downloaded. See :mod:`infwidth.data.paths`.
"""

from infwidth.data.paths import cache_dir, data_file, resolve_data_dir, sha256_file, verify_sha256

__all__ = ["cache_dir", "data_file", "resolve_data_dir", "sha256_file", "verify_sha256"]
