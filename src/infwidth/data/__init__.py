"""Dataset loaders. Data directory: ``--data-dir``, then ``$INFWIDTH_DATA``, then ``../shared/data``.

Every shared file is sha256-verified. A missing data set can be downloaded from its original source
(``infwidth data download NAME``, or automatically with ``$INFWIDTH_DOWNLOAD=1``): see
:mod:`infwidth.data.paths` and :mod:`infwidth.data.download`.
"""

from infwidth.data.paths import cache_dir, data_file, resolve_data_dir, sha256_file, verify_sha256

__all__ = ["cache_dir", "data_file", "resolve_data_dir", "sha256_file", "verify_sha256"]
