"""Package discovery: `sources/` and `sinks/` install as `evrt.sources` and `evrt.sinks`.

Metadata lives in pyproject.toml; only the folder-to-package mapping is computed here,
because it cannot be expressed statically when sub-packages are added over time.
"""

from setuptools import find_packages, setup


def _mapped(folder: str, prefix: str) -> tuple[list[str], dict[str, str]]:
    subs = find_packages(folder)
    packages = [prefix] + [f"{prefix}.{s}" for s in subs]
    dirs = {prefix: folder}
    dirs.update({f"{prefix}.{s}": f"{folder}/{s.replace('.', '/')}" for s in subs})
    return packages, dirs


_packages = [p for p in find_packages(".", include=["evrt", "evrt.*"])]
_dirs: dict[str, str] = {}
for _folder, _prefix in (("sources", "evrt.sources"), ("sinks", "evrt.sinks")):
    _p, _d = _mapped(_folder, _prefix)
    _packages += _p
    _dirs.update(_d)

setup(packages=_packages, package_dir=_dirs)
